// The configuration contract (SPEC §3). Keys mirror the YAML file and the etcd `config` JSON
// exactly (snake_case), so an error's key path is the path the operator types.

/** Dynamic config: lives in etcd `config`, the same for every node. Times in seconds. */
export interface DynamicConfig {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
  maximum_lag_on_failover: number;
  /** Seconds an automatic failover waits after the last promotion (0: off). */
  min_failover_interval: number;
  primary_start_timeout: number;
  synchronous_mode: boolean;
  synchronous_mode_strict: boolean;
  synchronous_node_count: number;
  check_timeline: boolean;
  use_pg_rewind: boolean;
  /** When pg_rewind fails, rebuild the former primary from a fresh base backup. */
  rebuild_on_rewind_failure: boolean;
  use_slots: boolean;
  pause: boolean;
  postgresql: { parameters: Record<string, string | number | boolean> };
}

export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface RoleCredentials {
  username: string;
  /** Resolved secret (from `password`, `password_file` or `password_env`). Never logged. */
  password?: string;
}

export interface StaticTags {
  nofailover: boolean;
  failover_priority: number;
  noloadbalance: boolean;
  nosync: boolean;
}

/** Static config: per node, from pgwarden.yml + PGWARDEN_* env + CLI flags. */
export interface AgentConfig {
  /** Absolute path of the file it was loaded from, or null when built from env/flags only. */
  config_file: string | null;
  name: string;
  scope: string;
  /** etcd key prefix root, default "/pgwarden". */
  namespace: string;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error'; format: 'json' | 'pretty' | 'auto' };
  /**
   * The fence guard (docs/configuration.md#watchdog): off = none; automatic = the guard process,
   * driving the watchdog device too when it exists; required = both, or never run a primary.
   */
  watchdog: { mode: 'off' | 'automatic' | 'required'; device: string; safety_margin: number };
  etcd: {
    hosts: string[];
    username?: string;
    password?: string;
    tls?: TlsFiles;
  };
  restapi: {
    /** host:port to bind. */
    listen: string;
    /** host:port peers and HAProxy use to reach this API. */
    connect_address: string;
    auth?: { username?: string; password?: string; token?: string };
    tls?: TlsFiles & { require_client_cert?: boolean };
    allowlist?: string[];
  };
  postgresql: {
    bin_dir: string;
    data_dir: string;
    /** host to bind (listen_addresses). */
    listen: string;
    /** host:port peers use to reach this PostgreSQL. */
    connect_address: string;
    port: number;
    superuser: RoleCredentials;
    replication: RoleCredentials;
    parameters: Record<string, string | number | boolean>;
    /** Extra pg_hba.conf lines, placed before pgwarden's own. */
    pg_hba: string[];
    /**
     * Before a rebuild, rename the old data directory to `<data_dir>.pgwarden-old-<time>` (when
     * free space allows) instead of deleting it; deleted once the rebuild succeeded. Default true.
     */
    keep_old_data_dir?: boolean;
    /**
     * A command (run with /bin/sh -c) before this node promotes; a non-zero exit or a timeout
     * aborts the promotion (Patroni's postgresql.pre_promote).
     */
    pre_promote?: string;
  };
  tags: StaticTags;
  /** Written to etcd `config` by the bootstrap winner; afterwards etcd is authoritative. */
  bootstrap: { dcs: DynamicConfig };
}

export const DEFAULT_DYNAMIC_CONFIG: DynamicConfig = {
  ttl: 3,
  loop_wait: 1,
  retry_timeout: 1,
  maximum_lag_on_failover: 1048576,
  min_failover_interval: 0,
  primary_start_timeout: 10,
  synchronous_mode: false,
  synchronous_mode_strict: false,
  synchronous_node_count: 1,
  check_timeline: true,
  use_pg_rewind: true,
  rebuild_on_rewind_failure: true,
  use_slots: true,
  pause: false,
  postgresql: { parameters: {} },
};
