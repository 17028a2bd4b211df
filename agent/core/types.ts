// Shared vocabulary of the decision core. Pure data: no I/O, no clocks.
// Times are monotonic milliseconds supplied by the caller (`now`), never read here.

/** A PostgreSQL WAL position as a byte offset (pg_lsn '16/B374D848' → 0x16B374D848). */
export type Lsn = number;

export interface Tags {
  readonly nofailover: boolean;
  /** Higher wins at equal WAL position; 0 means never promote. */
  readonly failoverPriority: number;
  readonly noloadbalance: boolean;
  readonly nosync: boolean;
}

export type PgRole = 'primary' | 'replica' | 'uninitialized';
export type PgState = 'running' | 'starting' | 'stopped' | 'crashed' | 'creating replica' | 'rewinding';

/** What a member publishes in `members/<name>` (parsed and validated by the DCS adapter). */
export interface MemberRecord {
  readonly name: string;
  readonly apiUrl: string;
  /** postgres://host:port/postgres — where peers reach this member's PostgreSQL. */
  readonly connUrl: string;
  readonly host: string;
  readonly port: number;
  readonly role: PgRole;
  readonly state: PgState;
  readonly timeline: number | null;
  /** Primary: current flush position. Replica: null. */
  readonly walLsn: Lsn | null;
  readonly receivedLsn: Lsn | null;
  readonly replayedLsn: Lsn | null;
  readonly tags: Tags;
  readonly version: string;
}

/**
 * The `initialize` key: absent; the bootstrap claim ("" on its claimant's lease); the cluster's
 * system identifier; or a value that is none of these (logged; treated as "initialized, system
 * identifier unknown": nobody bootstraps over it).
 */
export type InitializeState =
  | { readonly state: 'absent' }
  | { readonly state: 'bootstrapping' }
  | { readonly state: 'done'; readonly systemId: string }
  | { readonly state: 'malformed' };

export interface LeaderStatus {
  /** The leader's last published WAL position. */
  readonly optime: Lsn;
  readonly timeline: number;
  /**
   * The leader stopped cleanly (SIGTERM) at `optime` (its shutdown checkpoint) and no replica
   * confirmed it received that far: only a replica with all of it may take over (zero lag).
   */
  readonly shutdown?: boolean;
}

export interface FailoverRequest {
  readonly leader?: string;
  readonly candidate?: string;
  /** ISO-8601; absent means now. */
  readonly scheduledAt?: string;
}

export interface SyncState {
  readonly leader: string;
  readonly syncStandbys: readonly string[];
}

export interface HistoryRow {
  readonly timeline: number;
  readonly lsn: Lsn;
  readonly reason: string;
  readonly timestamp: string;
  readonly newLeader: string;
}

/** The cluster as read from the DCS in one consistent range read. */
/** The `leader` key as etcd holds it, whatever its value (for judging a value nobody can own). */
export interface LeaderKeyInfo {
  /** Its mod_revision: a delete compares it, so only the value judged is removed. */
  readonly revision: number;
  /** It is bound to a lease (one without a lease never expires). */
  readonly onLease: boolean;
}

export interface ClusterView {
  readonly initialize: InitializeState;
  /** Name in the `leader` key, or null when no one holds it (or its value is malformed). */
  readonly leader: string | null;
  /** The `leader` key itself, also when its value is malformed; null when absent; not given: unknown. */
  readonly leaderKey?: LeaderKeyInfo | null;
  readonly members: readonly MemberRecord[];
  readonly status: LeaderStatus | null;
  readonly failover: FailoverRequest | null;
  readonly sync: SyncState | null;
  readonly history: readonly HistoryRow[];
  readonly paused: boolean;
}

/** The HA settings the core needs (dynamic config), in milliseconds and bytes. */
export interface HaSettings {
  readonly ttlMs: number;
  readonly loopWaitMs: number;
  readonly retryTimeoutMs: number;
  readonly maximumLagOnFailover: number;
  /** An automatic failover waits this long after the last promotion in `history` (0 or absent: off). */
  readonly minFailoverIntervalMs?: number;
  readonly primaryStartTimeoutMs: number;
  readonly checkTimeline: boolean;
  readonly usePgRewind: boolean;
  /** A former primary whose rewind failed may be rebuilt from a fresh base backup. */
  readonly rebuildOnRewindFailure: boolean;
  readonly synchronousMode: boolean;
  readonly synchronousModeStrict: boolean;
}

/** PostgreSQL's control-file state, as pg_controldata reports it. */
export type ControlState =
  | 'starting up'
  | 'shut down'
  | 'shut down in recovery'
  | 'shutting down'
  | 'in crash recovery'
  | 'in archive recovery'
  | 'in production'
  | 'unknown';

/** The local PostgreSQL as the last probe saw it. */
export interface PgView {
  readonly dataDir: 'empty' | 'initialized';
  /** Postmaster process state as the agent knows it (it is the agent's child). */
  readonly process: 'running' | 'starting' | 'stopped' | 'crashed';
  /** Only meaningful while running. */
  readonly role: 'primary' | 'replica' | null;
  readonly systemId: string | null;
  readonly timeline: number | null;
  readonly walLsn: Lsn | null;
  readonly receivedLsn: Lsn | null;
  readonly replayedLsn: Lsn | null;
  /** Member name this replica is configured to stream from (our primary_conninfo), or null. */
  readonly upstream: string | null;
  /** The WAL receiver is connected and streaming. */
  readonly streaming: boolean;
  /** From pg_controldata while stopped; says whether it last ran as a primary. */
  readonly controlState: ControlState;
  /** "Latest checkpoint location" from pg_controldata while stopped (the shutdown checkpoint). */
  readonly checkpointLsn: Lsn | null;
  /** A running replica's WAL replay is paused (pg_wal_replay_pause()). */
  readonly replayPaused?: boolean;
  /** Commit time of the last transaction a running replica replayed (PostgreSQL's text form). */
  readonly replayedAt?: string | null;
  /**
   * A running replica that is not streaming: its upstream's last answer refused our WAL as not
   * part of its own history ("requested starting point … is ahead of the WAL flush position of
   * this server", "… is not in this server's history"). Evidence that our WAL diverged from the
   * upstream's, as opposed to the upstream merely being unreachable. Absent when unknown.
   */
  readonly walDiverged?: boolean;
  /**
   * The data directory holds a `backup_label`: it is a base backup (or a pg_rewind result) whose
   * recovery has not begun. Its control file may say "in production" (copied from a running
   * primary), yet it never ran as a primary here: it starts as a standby. Absent when unknown.
   */
  readonly backupLabel?: boolean;
  /** A running server has a parameter change that waits for a restart (pg_settings.pending_restart). */
  readonly pendingRestart?: boolean;
  /** Configured credentials that the running server refused (role and PostgreSQL's message; never a secret). */
  readonly credentialErrors?: readonly CredentialError[];
}

export interface CredentialError {
  /** Which configured credential: 'superuser' | 'replication'. */
  readonly credential: string;
  readonly username: string;
  readonly error: string;
}

/**
 * A step that failed and is retried after a delay (start of PostgreSQL, a transient pg_rewind
 * failure): how often it failed in a row, when it may be tried again (monotonic ms), and the
 * last error (PostgreSQL's own message where there is one).
 */
export interface RetryState {
  readonly attempts: number;
  readonly retryAt: number;
  readonly error: string;
  /** For a rewind: the leader it was run against (a new leader is tried at once). */
  readonly leader?: string;
}

export interface LocalView {
  readonly name: string;
  readonly tags: Tags;
  readonly now: number;
  /** This cycle's DCS read succeeded. When false, `cluster` is the last good view (or null). */
  readonly dcsReachable: boolean;
  /**
   * Monotonic instant at which our right to be primary ends (rule 2): last successful lease
   * renewal's send time + ttl − safety margin. Null before the first renewal.
   */
  readonly leaseDeadline: number | null;
  /** The `leader` key holds our name AND is bound to our current lease. */
  readonly holdsLeaderKey: boolean;
  /**
   * `initialize` holds the bootstrap claim and it is bound to our current lease: we made it (an
   * earlier attempt whose answer was lost, or whose bootstrap failed without giving it back).
   */
  readonly holdsInitializeClaim: boolean;
  readonly pg: PgView;
  /** Monotonic instant since which PostgreSQL has been down while it should run, or null. */
  readonly pgDownSince: number | null;
  /** Monotonic instant since which a running replica has not been streaming, or null. */
  readonly notStreamingSince: number | null;
  /**
   * We stopped as primary in a planned handover and the new leader confirmed it received our
   * shutdown checkpoint: we may follow it without a rewind.
   */
  readonly cleanHandover: boolean;
  /** Wall-clock epoch ms, only for comparing with scheduled times people wrote (ISO-8601). */
  readonly wallNow: number;
  /**
   * Monotonic instant since which the `leader` key (at its current revision) has held a value no
   * member can own (invalidLeaderKey), or null. Absent: never seen.
   */
  readonly invalidLeaderSince?: number | null;
  /** Monotonic instant since which `initialize` has been absent, or null (absent: not tracked). */
  readonly initializeAbsentSince?: number | null;
  /**
   * Members this agent saw in the cluster recently that are missing from the current view
   * (expected but silent: their agent may come back with data that matters).
   */
  readonly silentMembers?: readonly string[];
  /** The last `sync` value this agent saw (it survives etcd losing its data; not a restart). */
  readonly lastKnownSync?: SyncState | null;
  /**
   * The last rewind attempt found the rewind impossible (no common ancestor, another system,
   * no checksums/wal_log_hints): a rebuild may follow if allowed. Never set for a transient failure.
   */
  readonly rewindFailed: boolean;
  /** pg_rewind failed transiently (source refused, timeout…): retried after a delay, never rebuilt. */
  readonly rewindRetry?: RetryState | null;
  /** PostgreSQL failed to start (port in use, bad parameter…): retried after a delay. */
  readonly startRetry?: RetryState | null;
}

/** What a peer answered to GET /status during a leader race. */
export interface PeerStatus {
  readonly name: string;
  readonly reachable: boolean;
  readonly role: 'primary' | 'replica' | 'uninitialized' | null;
  readonly running: boolean;
  readonly timeline: number | null;
  /** max(received, replayed) for a replica; current position for a primary. */
  readonly walLsn: Lsn | null;
  /** Replayed position of a replica (eligibility compares it with the leader's optime). */
  readonly replayedLsn: Lsn | null;
  readonly tags: Tags | null;
}

export type Action =
  | { readonly kind: 'none' }
  | { readonly kind: 'wait' }
  | { readonly kind: 'initialize_cluster' }
  | { readonly kind: 'clone_from_leader'; readonly leader: string }
  | { readonly kind: 'start_replica'; readonly leader: string | null }
  | { readonly kind: 'start_primary' }
  | { readonly kind: 'renew_leader' }
  | { readonly kind: 'race' }
  | { readonly kind: 'acquire_leader' }
  | { readonly kind: 'stand_down' }
  | { readonly kind: 'promote' }
  | { readonly kind: 'fence' }
  | { readonly kind: 'follow'; readonly leader: string }
  | { readonly kind: 'rewind'; readonly leader: string }
  | { readonly kind: 'rebuild'; readonly leader: string }
  | { readonly kind: 'release_leader' }
  /** Delete the `leader` key only if it is still at this mod_revision (a value nobody can own). */
  | { readonly kind: 'delete_invalid_leader'; readonly revision: number }
  | { readonly kind: 'switchover'; readonly candidate: string }
  | { readonly kind: 'clear_failover' }
  | { readonly kind: 'refuse_start' };

export type ActionKind = Action['kind'];

/** One explained outcome per cycle: what to do and why, in one line. */
export interface Decision {
  readonly action: Action;
  readonly reason: string;
  /** Identifier of the rule that decided (see rules.ts). */
  readonly rule: string;
}

export const NO_TAGS: Tags = { nofailover: false, failoverPriority: 1, noloadbalance: false, nosync: false };
