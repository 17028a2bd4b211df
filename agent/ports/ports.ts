// The small interfaces the runtime drives (ports). They live below runtime, dcs and postgres so that
// the adapters (agent/dcs, agent/postgres) implement them without importing the runtime; unit
// tests and the simulator plug in fakes.
import type {
  ClusterView, HistoryRow, InitializeState, LeaderStatus, Lsn, MemberRecord, PgView, FailoverRequest, SyncState,
} from '../core/types.js';
import type { DynamicConfig } from '../config/types.js';
import type { RenewalReport } from '../core/lease.js';

/** A reading of the cluster plus the etcd revision it was taken at and the parsed dynamic config. */
export interface ClusterSnapshot {
  readonly view: ClusterView;
  /** Dynamic config from etcd `config`, or null if absent/invalid (then bootstrap config applies). */
  readonly config: DynamicConfig | null;
  /** mod_revision of the `config` key (for compare-and-swap), 0 when absent. */
  readonly configRevision: number;
  readonly revision: number;
  /** The `leader` key holds our name AND is bound to our current lease. */
  readonly leaderIsOurs: boolean;
  /** `initialize` holds the bootstrap claim ("") AND it is bound to our current lease. */
  readonly initializeIsOurs: boolean;
}

/** A leader race decided on a cluster view: take the key only while that view still holds. */
export interface AcquireLeaderOptions {
  /** etcd revision of the cluster view the race was decided on (ClusterSnapshot.revision). */
  readonly decidedAtRevision?: number;
  /** Told which keys changed after `decidedAtRevision` when that is why the key was not taken. */
  readonly onViewChanged?: (changed: readonly ViewChange[]) => void;
}

/** A key a race's decision rests on, modified after the revision the race was decided on. */
export interface ViewChange {
  readonly key: 'status' | 'history';
  readonly modRevision: number;
}

/** A successful lease renewal (see RenewalReport in agent/core/lease.ts). */
export type LeaseRenewal = RenewalReport;

/**
 * The agent's view of etcd. Every call has a deadline (retry_timeout) and rejects on failure;
 * malformed values are logged and treated as absent, never thrown.
 */
export interface Dcs {
  /** Read every key of the cluster in one range request. */
  readCluster(): Promise<ClusterSnapshot>;
  /**
   * Keep our lease alive (grant a fresh one if it expired). When `ttlSeconds` differs from the
   * TTL the lease was granted with, grant one with the new TTL and move our keys onto it. The
   * answer names the TTL etcd granted: rule 2's deadline is computed from it, never from config.
   */
  renewLease(ttlSeconds: number): Promise<LeaseRenewal>;
  /**
   * Create `leader` = our name on our lease, only if absent; if it already holds our name (on a
   * lease of our previous run), rebind it to our current lease. Resolves true if we now hold it.
   * With `decidedAtRevision` (a race), the key is taken only if, in the same transaction, neither
   * `status` nor `history` was modified after that revision; otherwise resolves false, writing
   * nothing. A key already ours on our current lease is ours either way.
   */
  acquireLeader(opts?: AcquireLeaderOptions): Promise<boolean>;
  /** Delete `leader` only if its value is our name. Resolves true if it was deleted. */
  releaseLeader(): Promise<boolean>;
  /**
   * Delete `leader` only if it is still at mod_revision `revision` (a value no member can own,
   * judged at that revision). Resolves true if it was deleted.
   */
  deleteLeaderAt(revision: number): Promise<boolean>;
  /** Put `members/<name>` on our lease. */
  touchMember(member: MemberRecord): Promise<void>;
  /**
   * Create `initialize` = "" on our lease only if absent (the claim expires if we die). Resolves
   * true if we won the bootstrap race, or if the key already holds our own claim (an earlier
   * attempt whose answer was lost).
   */
  claimInitialize(): Promise<boolean>;
  /**
   * Record the system identifier in `initialize` (no longer on any lease) once bootstrap finished,
   * only if it holds our own claim. Rejects when it holds anything else.
   */
  completeInitialize(systemId: string): Promise<void>;
  /**
   * Delete `initialize` if it still holds our own claim (our bootstrap failed; let another node
   * try). Resolves to what `initialize` holds afterwards (absent once our claim is deleted).
   */
  abandonInitialize(): Promise<InitializeState>;
  /** Write `config` only if absent (bootstrap). */
  initializeConfig(config: DynamicConfig): Promise<void>;
  /** Compare-and-swap `config` on its mod_revision; resolves false on a lost race. */
  writeConfig(config: DynamicConfig, expectedRevision: number): Promise<boolean>;
  /** Publish the leader's position; false (nothing written) when the leader key is not ours. */
  writeStatus(status: LeaderStatus): Promise<boolean>;
  appendHistory(row: HistoryRow): Promise<void>;
  setFailover(request: FailoverRequest | null): Promise<void>;
  /** Compare-and-swap `sync` (null expected = create only if absent). */
  writeSync(next: SyncState, expected: SyncState | null): Promise<boolean>;
  /**
   * Call `onChange` whenever a key of the cluster changes (leader deleted or expired, member
   * joined…). The watch reconnects by itself; returns a function that cancels it.
   * `key` is relative to the cluster prefix ("leader", "members/b"); "" means changes may have
   * been missed (etcd compacted the history during an outage): re-read everything.
   */
  watch(onChange: (key: string) => void): Promise<() => Promise<void>>;
  /** Revoke our lease (keys on it vanish at once) and close the client. */
  close(opts: { revokeLease: boolean }): Promise<void>;
}

/** Where a replica streams from / clones from: a member's PostgreSQL address. */
export interface Upstream {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/**
 * What pg_rewind did. 'failed' means the rewind is IMPOSSIBLE (no common ancestor, clusters from
 * different systems, target without data checksums/wal_log_hints, WAL it needs is gone): only a
 * rebuild can help. A failure that may pass (source refused or not yet accepting connections,
 * timeout, authentication, anything unrecognised) is not an outcome: rewind() rejects.
 */
export type RewindOutcome = 'rewound' | 'not_needed' | 'failed';

/** The local PostgreSQL. All calls have deadlines; failures reject with a clear message. */
export interface PostgresNode {
  /** Inspect the local instance: data dir, process, role, LSNs, timeline (no writes). */
  probe(): Promise<PgView>;
  /** initdb with data checksums, pgwarden's conf, pg_hba and roles. Leaves it stopped. */
  initdb(): Promise<void>;
  /** Create the superuser/replication roles' passwords etc. on a freshly started primary. */
  postBootstrap(): Promise<void>;
  /** pg_basebackup from the upstream into an empty data dir (logs progress). */
  basebackup(from: Upstream): Promise<void>;
  /** Write the recovery config so the next start is a standby of `upstream` (null: no upstream). */
  configureStandby(upstream: Upstream | null): Promise<void>;
  /** Remove standby.signal so the next start is a primary. */
  configurePrimary(): Promise<void>;
  /** Point a running standby at another upstream without a restart (reload). */
  follow(upstream: Upstream): Promise<void>;
  /** Start the postmaster as our child and wait until it accepts connections (or deadline). */
  start(): Promise<void>;
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** pg_promote(wait => true). */
  promote(): Promise<void>;
  /** Another member's received WAL position, asked of its PostgreSQL directly (null if unknown). */
  peerReceivedLsn(peer: Upstream): Promise<Lsn | null>;
  /** CHECKPOINT on the running server (makes the shutdown checkpoint of a later stop quick). */
  checkpoint(): Promise<void>;
  /** Re-read PostgreSQL's configuration files (pg_reload_conf). */
  reloadConfig(): Promise<void>;
  /** Stream through a replication slot or not (dynamic config use_slots); reloads if it changed. */
  setUseSlots(on: boolean): Promise<void>;
  /** Set synchronous_standby_names (kept across restarts) and reload; true when it changed. */
  setSynchronousStandbyNames(value: string): Promise<boolean>;
  /**
   * pg_rewind against the upstream (crash recovery first if needed). Resolves 'failed' only for
   * an impossible rewind; rejects (data directory untouched as far as pg_rewind allows) when the
   * failure may be transient, with pg_rewind's own message.
   */
  rewind(from: Upstream): Promise<RewindOutcome>;
  /** Delete the data directory (a failed bootstrap's fresh one). */
  removeDataDir(): Promise<void>;
  /**
   * Before a rebuild: move the data directory out of the way. When postgresql.keep_old_data_dir
   * is on and free space allows a second copy, it is renamed to `<data_dir>.pgwarden-old-<time>`
   * (an older such copy is deleted first: at most one is kept); otherwise it is deleted.
   * Resolves the path it was kept at, or null when it was deleted.
   */
  setAsideDataDir(): Promise<string | null>;
  /** After a rebuild succeeded: delete the copy setAsideDataDir() kept, if any. */
  discardOldDataDir(): Promise<void>;
  /**
   * Apply the cluster-wide PostgreSQL parameters (dynamic config `postgresql.parameters`),
   * merged under the node's own; rewrites postgresql.conf and reloads a running server when the
   * merged set changed. Resolves true when it changed.
   */
  applyParameters(parameters: Readonly<Record<string, string | number | boolean>>): Promise<boolean>;
  /** On a primary: make sure exactly these physical slots exist (create missing, drop others). */
  syncSlots(names: readonly string[]): Promise<void>;
  /** Called when the postmaster exits without being asked to (crash or kill). */
  onUnexpectedExit(listener: (code: number | null, signal: string | null) => void): void;
  /** Last replication rows seen on a primary (for status). */
  replication(): Promise<ReplicationRow[]>;
}

export interface ReplicationRow {
  readonly application_name: string;
  readonly client_addr: string | null;
  readonly state: string;
  readonly sync_state: string;
  readonly replay_lsn: Lsn | null;
}

/** Fetch a peer's status document (GET <api_url>/status) with a short timeout. */
export type PeerStatusFetcher = (apiUrl: string, timeoutMs: number) => Promise<unknown>;

/** What the HA loop reports for monitoring (agent/api/metrics.ts implements it). */
export interface LoopMetrics {
  /** Duration of one cycle, in seconds. */
  observeCycle(seconds: number): void;
  /** The action of each cycle's decision. */
  countDecision(action: string): void;
  /** The leader named by each fresh cluster view (null: no leader key). */
  observeLeader(leader: string | null): void;
}

/**
 * The out-of-process fence guard (watchdog): rule 2 enforced by something that is not this
 * process's event loop. While armed it stops PostgreSQL accepting writes by `deadline` unless
 * armed again with a later one first, so a frozen or stuck agent cannot leave a writable primary
 * behind once its lease may expire. The lease keeper feeds it wherever it (re)schedules its own
 * fence timer. agent/guard/client.ts implements it; the simulator plugs in a simulated guard.
 */
export interface FenceGuard {
  /** Armed until `deadline` (monotonic ms on the runtime's Clock) for the running primary. */
  arm(deadline: number): void;
  disarm(): void;
  /**
   * The guard can fence (its process runs; a required watchdog device works). The runtime does
   * not make or keep PostgreSQL writable while it is false.
   */
  healthy(): boolean;
}

/** A check an operator runs before this node promotes (postgresql.pre_promote). */
export interface PromotionHook {
  /** Run it within `timeoutMs`; ok false (with what it printed) aborts the promotion. */
  run(timeoutMs: number): Promise<{ readonly ok: boolean; readonly detail: string }>;
}
