// The documents the API serves (SPEC §1.2, §1.3), built from the HA loop's snapshot.
// PURE: no I/O, no clock reads. Field names are snake_case and LSNs are byte offsets (integers),
// as Patroni serves them, so existing tooling and peers can read them.
import type { PgRole, PgState, Tags } from '../core/types.js';
import type { NodeState } from '../runtime/node-state.js';
import { isSyncStandby } from './health.js';

export interface SnakeTags {
  readonly nofailover: boolean;
  readonly failover_priority: number;
  readonly noloadbalance: boolean;
  readonly nosync: boolean;
}

export interface PrimaryXlog {
  readonly location: number | null;
}

export interface ReplicaXlog {
  readonly received_location: number | null;
  readonly replayed_location: number | null;
  /** Commit timestamp of the last replayed transaction; not probed yet, always null. */
  readonly replayed_timestamp: string | null;
  /** pg_is_wal_replay_paused(); not probed yet, always false. */
  readonly paused: boolean;
}

export interface ReplicationEntry {
  readonly application_name: string;
  readonly client_addr: string | null;
  readonly state: string;
  readonly sync_state: string;
}

export interface StatusDocument {
  readonly name: string;
  readonly scope: string;
  readonly role: PgRole;
  readonly state: PgState;
  readonly timeline: number | null;
  /** Present only while PostgreSQL runs: {location} on a primary, the replica shape otherwise. */
  readonly xlog?: PrimaryXlog | ReplicaXlog;
  readonly replication: readonly ReplicationEntry[];
  /** Listed in the `sync` key (synchronous mode on). */
  readonly sync_standby: boolean;
  /**
   * On the primary: synchronous replication as it manages it — 'off', 'synchronous' (standbys
   * confirm commits), 'asynchronous' (synchronous mode but no standby: commits not confirmed)
   * or 'waiting' (strict mode, no standby: commits wait).
   */
  readonly synchronous_replication?: { readonly state: string; readonly standbys: readonly string[] };
  readonly pause: boolean;
  readonly tags: SnakeTags;
  /** Epoch seconds of the last successful etcd read. */
  readonly dcs_last_seen: number | null;
  /** Epoch seconds at which the last successful etcd lease renewal was sent. */
  readonly lease_renewed_at: number | null;
  readonly last_decision: { readonly action: string; readonly reason: string; readonly at: string } | null;
  readonly pending_restart: boolean;
  /**
   * Configured credentials the local PostgreSQL refused (checked at start and every minute while
   * it runs): which one, the role, PostgreSQL's message. Never a secret. Absent when all passed.
   */
  readonly credential_errors?: readonly { readonly credential: string; readonly username: string; readonly error: string }[];
  readonly server_version: number | null;
  readonly version: string;
  /** Patroni-compatible block, for tools that look for it. */
  readonly patroni: { readonly version: string; readonly scope: string; readonly name: string };
}

export function snakeTags(tags: Tags): SnakeTags {
  return {
    nofailover: tags.nofailover,
    failover_priority: tags.failoverPriority,
    noloadbalance: tags.noloadbalance,
    nosync: tags.nosync,
  };
}

/**
 * PostgreSQL's role for the document. While it runs, the probe says; while stopped, the control
 * file says how it last ran; an empty data directory is `uninitialized`.
 */
export function documentRole(state: NodeState): PgRole {
  const pg = state.pg;
  if (pg.dataDir === 'empty') return 'uninitialized';
  if (pg.role !== null) return pg.role;
  // A base backup or rewound directory that has not started yet: a standby, whatever the copied control file says.
  if (pg.backupLabel === true) return 'replica';
  switch (pg.controlState) {
    case 'in production':
    case 'shut down':
    case 'shutting down':
      return 'primary';
    default:
      return 'replica';
  }
}

export function buildStatusDoc(state: NodeState): StatusDocument {
  const pg = state.pg;
  const cluster = state.cluster;
  const role = documentRole(state);
  let xlog: PrimaryXlog | ReplicaXlog | undefined;
  if (pg.process === 'running') {
    xlog = role === 'primary'
      ? { location: pg.walLsn }
      : { received_location: pg.receivedLsn, replayed_location: pg.replayedLsn, replayed_timestamp: pg.replayedAt ?? null, paused: pg.replayPaused === true };
  }
  const decision = state.lastDecision;
  return {
    name: state.name,
    scope: state.scope,
    role,
    state: state.pgState,
    timeline: pg.timeline,
    ...(xlog ? { xlog } : {}),
    replication: state.replication.map((r) => ({
      application_name: r.application_name,
      client_addr: r.client_addr,
      state: r.state,
      sync_state: r.sync_state,
    })),
    sync_standby: isSyncStandby(state),
    ...(documentRole(state) === 'primary' && state.syncState !== undefined
      ? { synchronous_replication: { state: state.syncState, standbys: state.syncStandbys ?? [] } }
      : {}),
    pause: cluster?.paused ?? false,
    tags: snakeTags(state.tags),
    dcs_last_seen: state.dcsLastSeen,
    lease_renewed_at: state.leaseRenewedAt === null ? null : state.leaseRenewedAt / 1000,
    last_decision: decision ? { action: decision.action.kind, reason: decision.reason, at: decision.at } : null,
    pending_restart: state.pendingRestart,
    ...(pg.credentialErrors && pg.credentialErrors.length > 0
      ? { credential_errors: pg.credentialErrors.map((e) => ({ credential: e.credential, username: e.username, error: e.error })) }
      : {}),
    server_version: state.serverVersion,
    version: state.version,
    patroni: { version: state.version, scope: state.scope, name: state.name },
  };
}

export interface ClusterMemberEntry {
  readonly name: string;
  readonly role: 'leader' | 'replica';
  readonly state: PgState;
  readonly api_url: string;
  readonly host: string;
  readonly port: number;
  readonly timeline: number | null;
  /** Replicas only: bytes replayed behind the leader's published position; null when unknown. */
  readonly lag?: number | null;
  readonly tags: SnakeTags;
}

export interface ClusterDocument {
  readonly scope: string;
  readonly members: readonly ClusterMemberEntry[];
  readonly scheduled_switchover?: { readonly at: string; readonly from: string | null; readonly to: string | null };
}

/** GET /cluster from the last cluster view; null when there is none yet. */
export function buildClusterDoc(state: NodeState): ClusterDocument | null {
  const cluster = state.cluster;
  if (cluster === null) return null;
  const optime = cluster.status?.optime ?? null;
  const members = cluster.members.map((m): ClusterMemberEntry => {
    const isLeader = m.name === cluster.leader;
    const position = m.replayedLsn ?? m.receivedLsn;
    return {
      name: m.name,
      role: isLeader ? 'leader' : 'replica',
      state: m.state,
      api_url: m.apiUrl,
      host: m.host,
      port: m.port,
      timeline: m.timeline,
      ...(isLeader ? {} : { lag: optime === null || position === null ? null : Math.max(0, optime - position) }),
      tags: snakeTags(m.tags),
    };
  });
  const failover = cluster.failover;
  return {
    scope: state.scope,
    members,
    ...(failover?.scheduledAt
      ? { scheduled_switchover: { at: failover.scheduledAt, from: failover.leader ?? null, to: failover.candidate ?? null } }
      : {}),
  };
}

export type HistoryEntry = readonly [timeline: number, lsn: number, reason: string, timestamp: string, newLeader: string];

/** GET /history rows, oldest first; null when there is no cluster view yet. */
export function buildHistoryDoc(state: NodeState): HistoryEntry[] | null {
  if (state.cluster === null) return null;
  return state.cluster.history.map((h) => [h.timeline, h.lsn, h.reason, h.timestamp, h.newLeader] as const);
}
