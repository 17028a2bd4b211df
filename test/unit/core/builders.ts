// Builders that make a decision-table row read like the situation it sets up.
import type {
  ClusterView, HaSettings, LocalView, MemberRecord, PgView, Tags,
} from '../../../agent/core/types.js';
import { NO_TAGS } from '../../../agent/core/types.js';

export const NOW = 1_000_000;
export const SYS = '7300000000000000001';
/** 2026-01-01T00:00:00Z */
export const WALL_NOW = Date.UTC(2026, 0, 1);

export const settings: HaSettings = {
  ttlMs: 3000,
  loopWaitMs: 1000,
  retryTimeoutMs: 1000,
  maximumLagOnFailover: 1_048_576,
  primaryStartTimeoutMs: 10_000,
  checkTimeline: true,
  usePgRewind: true,
  rebuildOnRewindFailure: true,
  synchronousMode: false,
  synchronousModeStrict: false,
};

export function tags(patch: Partial<Tags> = {}): Tags {
  return { ...NO_TAGS, ...patch };
}

export function member(name: string, patch: Partial<MemberRecord> = {}): MemberRecord {
  return {
    name,
    apiUrl: `http://127.0.0.1:80${name.slice(-1)}/`,
    connUrl: `postgres://127.0.0.1:54${name.slice(-1)}/postgres`,
    host: '127.0.0.1',
    port: 5400,
    role: 'replica',
    state: 'running',
    timeline: 1,
    walLsn: null,
    receivedLsn: 5000,
    replayedLsn: 5000,
    tags: tags(),
    version: '0.1.0',
    ...patch,
  };
}

export function cluster(patch: Partial<ClusterView> = {}): ClusterView {
  return {
    initialize: { state: 'done', systemId: SYS },
    leader: 'a',
    members: [member('a', { role: 'primary', walLsn: 5000, receivedLsn: null, replayedLsn: null }), member('b'), member('c')],
    status: { optime: 5000, timeline: 1 },
    failover: null,
    sync: null,
    history: [],
    paused: false,
    ...patch,
  };
}

export const pgStoppedEmpty: PgView = {
  dataDir: 'empty', process: 'stopped', role: null, systemId: null, timeline: null,
  walLsn: null, receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState: 'unknown', checkpointLsn: null,
};

export function pgPrimary(patch: Partial<PgView> = {}): PgView {
  return {
    dataDir: 'initialized', process: 'running', role: 'primary', systemId: SYS, timeline: 1,
    walLsn: 5000, receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState: 'in production', checkpointLsn: null,
    ...patch,
  };
}

export function pgReplica(patch: Partial<PgView> = {}): PgView {
  return {
    dataDir: 'initialized', process: 'running', role: 'replica', systemId: SYS, timeline: 1,
    walLsn: null, receivedLsn: 5000, replayedLsn: 5000, upstream: 'a', streaming: true, controlState: 'in archive recovery', checkpointLsn: null,
    ...patch,
  };
}

export function pgStopped(controlState: PgView['controlState'], patch: Partial<PgView> = {}): PgView {
  return {
    dataDir: 'initialized', process: 'stopped', role: null, systemId: SYS, timeline: 1,
    walLsn: null, receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState, checkpointLsn: null,
    ...patch,
  };
}

/** Local view of node `name` (default "b"), with a fresh lease deadline. */
export function local(pg: PgView, patch: Partial<LocalView> = {}): LocalView {
  return {
    name: 'b',
    tags: tags(),
    now: NOW,
    dcsReachable: true,
    leaseDeadline: NOW + 2000,
    holdsLeaderKey: false,
    holdsInitializeClaim: false,
    pg,
    pgDownSince: null,
    notStreamingSince: null,
    rewindFailed: false,
    cleanHandover: false,
    wallNow: WALL_NOW,
    ...patch,
  };
}

/** Local view of the leader "a" holding its key. */
export function leaderLocal(pg: PgView, patch: Partial<LocalView> = {}): LocalView {
  return local(pg, { name: 'a', holdsLeaderKey: true, ...patch });
}
