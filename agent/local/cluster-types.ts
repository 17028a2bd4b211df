// The shapes LocalCluster is configured with and hands out: options, nodes, agent status.
import type { AgentConfig, DynamicConfig, StaticTags } from '../config/types.js';
import type { Logger } from '../log.js';
import type { DeepPartial } from './agent-config.js';
import type { EtcdTiming } from './etcd.js';

export interface LocalClusterTimeouts {
  /** etcd members up and the cluster healthy. Default 30 s. */
  etcdReadyMs: number;
  /** HAProxy answering on its stats port. Default 10 s. */
  haproxyReadyMs: number;
  /** An agent's clean exit after SIGTERM, before SIGKILL. Default 20 s. */
  agentStopMs: number;
  /** A leftover postmaster's exit after SIGQUIT, before SIGKILL. Default 5 s. */
  postgresStopMs: number;
  /** HAProxy's exit after SIGTERM, before SIGKILL. Default 5 s. */
  serviceStopMs: number;
}

export interface LocalClusterOptions {
  /** Number of pgwarden agents (node1..nodeN). Default 3; 0 starts etcd and HAProxy only. */
  agents?: number;
  /** etcd members. Default 3. */
  etcdMembers?: number;
  /** Cluster name. Default "local". */
  scope?: string;
  /** etcd key prefix root. Default "/pgwarden". */
  namespace?: string;
  /** Where run directories go. Default /tmp/pgwarden-runs. */
  baseDir?: string;
  /** Default: <UTC date-time>-<random>. */
  runId?: string;
  /** `bootstrap.dcs` overrides written into every agent's config (e.g. `{ ttl: 5 }`). */
  dcs?: DeepPartial<DynamicConfig>;
  /** Static `postgresql.parameters` of every node. */
  pgParameters?: Record<string, string | number | boolean>;
  /** Tags per node name, e.g. `{ node3: { nofailover: true } }`. */
  tags?: Record<string, Partial<StaticTags>>;
  /** Deep-merged into each node's YAML last (null deletes a key). */
  extraConfig?: Record<string, unknown> | ((name: string, index: number) => Record<string, unknown>);
  /** The agents' log level. Default "debug" (logs are files; post-mortems want detail). */
  agentLogLevel?: AgentConfig['log']['level'];
  /** Start HAProxy. Default true. */
  haproxy?: boolean;
  /** Route read-only traffic only to replicas within this lag (`/replica?lag=…`). */
  replicaLag?: string;
  /** Repository root (holds dist/agent/cli.js). Default: found from this file. */
  repoDir?: string;
  pgBinDir?: string;
  etcdBin?: string;
  etcdctlBin?: string;
  haproxyBin?: string;
  /** When the harness is root, agents run as this OS user. Default "postgres". */
  runAsUser?: string;
  /** Put etcd's data on /dev/shm when it has room. Default true. */
  etcdOnTmpfs?: boolean;
  etcdTiming?: EtcdTiming;
  timeouts?: Partial<LocalClusterTimeouts>;
  /** Kill everything synchronously on SIGINT/SIGTERM/SIGHUP. Default true; a CLI that stops
   *  gracefully on signals itself can turn this off (the 'exit' hook stays). */
  signalHandlers?: boolean;
  /** Reap crashed runs under baseDir before starting. Default true. */
  reapStale?: boolean;
  /** Also receives the harness's events (they always go to <run>/cluster.log). */
  logger?: Logger;
  /**
   * Run each node (agent + PostgreSQL) in its own network namespace with its own address, linked
   * to a bridge where etcd and HAProxy are reached (see netns.ts); enables `cluster.net` faults
   * (partitions, latency). Needs root, ip, iptables and tc. Default false: everything on loopback.
   */
  netns?: boolean;
  /**
   * With netns: pass every connection of every node through a delay relay (latency-relays.ts), so
   * `setLatency` can slow a node's links on kernels without tc netem. Default false.
   */
  latencyRelay?: boolean;
}

export interface LocalNode {
  readonly name: string;
  readonly index: number;
  /** <run>/nodeN */
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  /** The agent's stdout+stderr (pino JSON lines). */
  readonly logFile: string;
  readonly apiHost: string;
  readonly apiPort: number;
  /** http://127.0.0.1:<apiPort> */
  readonly apiUrl: string;
  readonly pgHost: string;
  readonly pgPort: number;
  readonly tags: Partial<StaticTags>;
}

export type NodeRef = string | LocalNode;

export interface HaproxyPorts {
  readonly rwPort: number;
  readonly roPort: number;
  readonly statsPort: number;
}

/** The agent's status document (SPEC §1.3); only the fields the harness reads are typed. */
export interface AgentStatus {
  name?: string;
  role?: 'primary' | 'replica' | 'uninitialized' | string;
  state?: string;
  timeline?: number;
  /** On a primary: the synchronous replication state and the standbys published in `sync`. */
  synchronous_replication?: { state?: string; standbys?: string[] };
  [key: string]: unknown;
}

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  readonly body: unknown;
}

export interface UnexpectedExit {
  readonly name: string;
  readonly pid: number;
  readonly how: string;
  readonly at: string;
}

export type LocalClusterState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export const DEFAULT_TIMEOUTS: LocalClusterTimeouts = {
  etcdReadyMs: 30_000,
  haproxyReadyMs: 10_000,
  agentStopMs: 20_000,
  postgresStopMs: 5_000,
  serviceStopMs: 5_000,
};

export const DEFAULT_BASE_DIR = '/tmp/pgwarden-runs';
export const LOCALHOST = '127.0.0.1';
