// Small builders for NodeState snapshots: each reads like the situation it sets up.
import { NO_TAGS, type ClusterView, type HaSettings, type MemberRecord, type PgView, type Tags } from '../../../agent/core/types.js';
import type { NodeState } from '../../../agent/runtime/node-state.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { settings } from '../core/builders.js';

/** Monotonic "now" every builder is relative to. */
export const NOW = 1_000_000;
export const TTL_MS = settings.ttlMs;
/** The leader's published position (cluster.status.optime). */
export const OPTIME = 0x3_000_000;
export const MB = 1024 * 1024;

/** The same defaults the decision-table rows use. */
export const SETTINGS: HaSettings = settings;

export function member(name: string, patch: Partial<MemberRecord> = {}): MemberRecord {
  return {
    name,
    apiUrl: `http://10.0.0.${name.charCodeAt(name.length - 1) - 96}:8008`,
    connUrl: `postgres://${name}:5432/postgres`,
    host: name,
    port: 5432,
    role: 'replica',
    state: 'running',
    timeline: 2,
    walLsn: null,
    receivedLsn: OPTIME,
    replayedLsn: OPTIME,
    tags: NO_TAGS,
    version: '0.1.0',
    ...patch,
  };
}

export function clusterView(patch: Partial<ClusterView> = {}): ClusterView {
  return {
    initialize: { state: 'done', systemId: '7390000000000000001' },
    leader: 'node-a',
    members: [
      member('node-a', { role: 'primary', walLsn: OPTIME, receivedLsn: null, replayedLsn: null }),
      member('node-b'),
    ],
    status: { optime: OPTIME, timeline: 2 },
    failover: null,
    sync: null,
    history: [{ timeline: 1, lsn: 0x1_000_000, reason: 'no recovery target specified', timestamp: '2025-01-01T00:00:00Z', newLeader: 'node-a' }],
    paused: false,
    ...patch,
  };
}

const PRIMARY_PG: PgView = {
  dataDir: 'initialized',
  process: 'running',
  role: 'primary',
  systemId: '7390000000000000001',
  timeline: 2,
  walLsn: OPTIME + 4096,
  receivedLsn: null,
  replayedLsn: null,
  upstream: null,
  streaming: false,
  controlState: 'in production',
  checkpointLsn: null,
};

/** node-a: running primary holding the leader key with a lease valid for 2 s more. */
export function primaryState(patch: Partial<NodeState> = {}): NodeState {
  return {
    name: 'node-a',
    scope: 'demo',
    version: '0.1.0',
    tags: NO_TAGS,
    pg: PRIMARY_PG,
    pgState: 'running',
    serverVersion: 170002,
    replication: [{ application_name: 'node-b', client_addr: '10.0.0.2', state: 'streaming', sync_state: 'async', replay_lsn: OPTIME }],
    cluster: clusterView(),
    dcsLastSeen: 1_735_689_600,
    clusterReadAt: NOW - 500,
    leaseRenewedAt: 1_735_689_599_500,
    leaseDeadline: NOW + 2_000,
    lastDecision: { action: { kind: 'renew_leader' }, reason: 'I am the leader with the lock', rule: 'leader.renew', at: '2025-01-01T00:00:01.000Z' },
    lastCycleAt: NOW - 500,
    settings: SETTINGS,
    pendingRestart: false,
    dynamicConfig: DEFAULT_DYNAMIC_CONFIG,
    syncState: 'off',
    syncStandbys: [],
    ...patch,
  };
}

/** node-b: running streaming replica of node-a, `lag` bytes replayed behind the published optime. */
export function replicaState(opts: { lag?: number } = {}, patch: Partial<NodeState> = {}): NodeState {
  const lag = opts.lag ?? 0;
  return primaryState({
    name: 'node-b',
    pg: {
      ...PRIMARY_PG,
      role: 'replica',
      walLsn: null,
      receivedLsn: Math.min(OPTIME, OPTIME - lag + 100),
      replayedLsn: OPTIME - lag,
      upstream: 'node-a',
      streaming: true,
      controlState: 'in archive recovery',
    },
    replication: [],
    leaseDeadline: null,
    lastDecision: { action: { kind: 'none' }, reason: 'following node-a', rule: 'replica.follow', at: '2025-01-01T00:00:01.000Z' },
    ...patch,
  });
}

/** The lease deadline has passed (the key may still name us in a stale view). */
export function withLeaseExpired(s: NodeState): NodeState {
  return { ...s, leaseDeadline: NOW - 1 };
}

/** PostgreSQL is not running; the control file remembers how it last ran. */
export function withPgStopped(s: NodeState, how: 'stopped' | 'crashed' = 'stopped'): NodeState {
  return {
    ...s,
    pg: { ...s.pg, process: how, role: null, walLsn: null, receivedLsn: null, replayedLsn: null, streaming: false },
    pgState: how,
    replication: [],
  };
}

export function withTags(s: NodeState, tags: Partial<Tags>): NodeState {
  return { ...s, tags: { ...s.tags, ...tags } };
}

export function withCluster(s: NodeState, patch: Partial<ClusterView>): NodeState {
  return { ...s, cluster: s.cluster ? { ...s.cluster, ...patch } : clusterView(patch) };
}

export function withPaused(s: NodeState): NodeState {
  return withCluster(s, { paused: true });
}

/** Synchronous mode on and this node listed in the `sync` key. */
export function withSync(s: NodeState): NodeState {
  return {
    ...withCluster(s, { sync: { leader: 'node-a', syncStandbys: [s.name] } }),
    settings: { ...s.settings, synchronousMode: true },
  };
}

/** No cluster view read from etcd (just started, or etcd never answered). */
export function withNoCluster(s: NodeState): NodeState {
  return { ...s, cluster: null, clusterReadAt: null, dcsLastSeen: null, dynamicConfig: null };
}

/** The last good cluster view is older than ttl. */
export function withStaleCluster(s: NodeState): NodeState {
  return { ...s, clusterReadAt: NOW - TTL_MS - 1 };
}
