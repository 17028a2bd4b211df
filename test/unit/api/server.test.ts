import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi, parseListen } from '../../../agent/api/server.js';
import { NodeStateStore, type NodeState } from '../../../agent/runtime/node-state.js';
import { systemClock, type Clock } from '../../../agent/clock.js';
import { createLogger } from '../../../agent/log.js';
import {
  MB, NOW, OPTIME, TTL_MS, clusterView, member, primaryState, replicaState, withCluster, withLeaseExpired,
  withNoCluster, withPaused, withPgStopped, withSync, withTags,
} from './builders.js';

interface Harness { app: FastifyInstance; store: NodeStateStore; clock: { t: number }; lines: Record<string, unknown>[] }

const apps: FastifyInstance[] = [];
afterEach(async () => { await Promise.all(apps.splice(0).map((a) => a.close())); });

function harness(state: NodeState, level = 'info'): Harness {
  const clock = { t: NOW };
  const fakeClock: Clock = { ...systemClock, now: () => clock.t, wallNow: () => 1_735_689_601_000 };
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); },
  });
  const store = new NodeStateStore(state);
  const app = buildApi({ store, clock: fakeClock, logger: createLogger({ level, format: 'json', destination }).child({ component: 'api' }) });
  apps.push(app);
  return { app, store, clock, lines };
}

const PATHS = ['/', '/primary', '/read-write', '/leader', '/replica', '/read-only', '/sync', '/async', '/health', '/liveness', '/readiness'] as const;
type Path = (typeof PATHS)[number];
type Codes = Record<Path, 200 | 503>;

/** Expected codes, written as the set of paths that answer 200 (all others 503). */
function ok(...paths: Path[]): Codes {
  return Object.fromEntries(PATHS.map((p) => [p, paths.includes(p) ? 200 : 503])) as Codes;
}
const PRIMARY_OK = ['/', '/primary', '/read-write', '/leader', '/read-only', '/health', '/liveness', '/readiness'] as const;

interface Situation {
  name: string;
  state: NodeState;
  query?: string;
  codes: Codes;
  /** Expected fields of the GET body. */
  body: Record<string, unknown>;
  /** true: xlog must be absent. */
  noXlog?: boolean;
}

const primaryXlog = { location: OPTIME + 4096 };
const replicaXlog = (lag: number) => ({ received_location: Math.min(OPTIME, OPTIME - lag + 100), replayed_location: OPTIME - lag, replayed_timestamp: null, paused: false });

const SITUATIONS: Situation[] = [
  {
    name: 'primary holding the leader key',
    state: primaryState(),
    codes: ok(...PRIMARY_OK),
    body: { role: 'primary', state: 'running', timeline: 2, xlog: primaryXlog, pause: false },
  },
  {
    name: 'primary whose lease deadline passed',
    state: withLeaseExpired(primaryState()),
    codes: ok('/health', '/liveness'),
    body: { role: 'primary', state: 'running', timeline: 2, xlog: primaryXlog },
  },
  {
    name: 'leader key held but PostgreSQL not running',
    state: withPgStopped(primaryState(), 'crashed'),
    codes: ok('/leader', '/liveness', '/readiness'),
    body: { role: 'primary', state: 'crashed', timeline: 2 },
    noXlog: true,
  },
  {
    name: 'streaming replica',
    state: replicaState(),
    codes: ok('/replica', '/read-only', '/async', '/health', '/liveness', '/readiness'),
    body: { role: 'replica', state: 'running', timeline: 2, xlog: replicaXlog(0), sync_standby: false },
  },
  {
    name: 'replica 2 MiB behind, probed with ?lag=1MB',
    state: replicaState({ lag: 2 * MB }),
    query: '?lag=1MB',
    codes: ok('/health', '/liveness', '/readiness'),
    body: { role: 'replica', state: 'running', timeline: 2, xlog: replicaXlog(2 * MB) },
  },
  {
    name: 'replica 2 MiB behind, probed with ?lag=3MB',
    state: replicaState({ lag: 2 * MB }),
    query: '?lag=3MB',
    codes: ok('/replica', '/read-only', '/async', '/health', '/liveness', '/readiness'),
    body: { role: 'replica', xlog: replicaXlog(2 * MB) },
  },
  {
    name: 'replica tagged noloadbalance',
    state: withTags(replicaState(), { noloadbalance: true }),
    codes: ok('/health', '/liveness', '/readiness'),
    body: { role: 'replica', state: 'running', tags: { nofailover: false, failover_priority: 1, noloadbalance: true, nosync: false } },
  },
  {
    name: 'stopped PostgreSQL (replica, no key)',
    state: withPgStopped(replicaState()),
    codes: ok('/liveness'),
    body: { role: 'replica', state: 'stopped', timeline: 2 },
    noXlog: true,
  },
  {
    name: 'paused cluster, primary with a stale HA cycle',
    state: withPaused(primaryState({ lastCycleAt: NOW - 10 * TTL_MS })),
    codes: ok(...PRIMARY_OK),
    body: { role: 'primary', state: 'running', pause: true, xlog: primaryXlog },
  },
  {
    name: 'replica listed in sync',
    state: withSync(replicaState()),
    codes: ok('/replica', '/read-only', '/sync', '/health', '/liveness', '/readiness'),
    body: { role: 'replica', state: 'running', sync_standby: true, xlog: replicaXlog(0) },
  },
];

describe.each(SITUATIONS)('$name', ({ state, query = '', codes, body, noXlog }) => {
  it.each(PATHS)('GET %s', async (path) => {
    const { app } = harness(state);
    const res = await app.inject({ method: 'GET', url: path + query });
    expect(res.statusCode).toBe(codes[path]);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const doc = res.json() as Record<string, unknown>;
    expect(doc).toMatchObject({ name: state.name, scope: 'demo', ...body });
    if (noXlog) expect(doc).not.toHaveProperty('xlog');
  });

  it.each(PATHS.flatMap((p) => [['HEAD', p], ['OPTIONS', p]] as const))('%s %s', async (method, path) => {
    const { app } = harness(state);
    const res = await app.inject({ method, url: path + query });
    expect(res.statusCode).toBe(codes[path]);
    // HEAD bodies are dropped by HTTP itself; the length says whether one was produced.
    expect(res.body).toBe('');
    expect(res.headers['content-length'] ?? '0').toBe('0');
  });
});

describe('bad input', () => {
  it('?lag=abc → 400 JSON naming lag', async () => {
    const { app } = harness(replicaState());
    const res = await app.inject({ method: 'GET', url: '/replica?lag=abc' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'INVALID_PARAMETER', parameter: 'lag' } });
    expect((res.json() as { error: { message: string } }).error.message).toMatch(/lag/);
  });

  it.each(['HEAD', 'OPTIONS'] as const)('%s ?lag=abc → 400 with an empty body', async (method) => {
    const { app } = harness(replicaState());
    const res = await app.inject({ method, url: '/replica?lag=abc' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toBe('');
  });

  // Some checkers send a Content-Type (even a body) with OPTIONS; the check is still answered.
  it.each([
    ['OPTIONS', 'text/html', undefined],
    ['OPTIONS', 'application/x-whatever', 'ignored'],
    ['GET', 'text/plain', undefined],
  ] as const)('%s /primary with Content-Type %s is answered, not refused', async (method, type, payload) => {
    const { app } = harness(primaryState());
    const res = await app.inject({ method, url: '/primary', headers: { 'content-type': type }, ...(payload ? { payload } : {}) });
    expect(res.statusCode).toBe(200);
    const replica = await app.inject({ method, url: '/replica', headers: { 'content-type': type } });
    expect(replica.statusCode).toBe(503);
  });

  it('a repeated ?lag → 400, not 500', async () => {
    const { app } = harness(replicaState());
    const res = await app.inject({ method: 'GET', url: '/replica?lag=1&lag=2' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { parameter: 'lag' } });
  });

  it('?lag=1MB, 1024kB and 1048576 are the same limit', async () => {
    const { app, store } = harness(replicaState({ lag: MB }));
    for (const lag of ['1MB', '1024kB', '1048576']) {
      store.set(replicaState({ lag: MB }));
      expect((await app.inject({ method: 'GET', url: `/replica?lag=${lag}` })).statusCode).toBe(200);
      store.set(replicaState({ lag: MB + 1 }));
      expect((await app.inject({ method: 'GET', url: `/replica?lag=${lag}` })).statusCode).toBe(503);
    }
  });

  it('tag filters over HTTP', async () => {
    const { app } = harness(withTags(replicaState(), { failoverPriority: 5 }));
    expect((await app.inject({ method: 'OPTIONS', url: '/replica?tag_failover_priority=5' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'OPTIONS', url: '/replica?tag_failover_priority=4' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/replica?tag_nofailover=FALSE&tag_nosync=false' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/replica?tag_dc=eu' })).statusCode).toBe(503);
  });

  it('unknown GET path → 404 JSON error', async () => {
    const { app } = harness(primaryState());
    const res = await app.inject({ method: 'GET', url: '/master?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: expect.stringContaining('/master') } });
  });

  it.each(['POST', 'DELETE'] as const)('%s on a health path → 404 JSON error', async (method) => {
    const { app } = harness(primaryState());
    const res = await app.inject({ method, url: '/primary' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: expect.stringContaining(method) } });
  });

  it.each(['HEAD', 'OPTIONS'] as const)('unknown %s path → 404 with an empty body', async (method) => {
    const { app } = harness(primaryState());
    const res = await app.inject({ method, url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.body).toBe('');
  });
});

describe('/status', () => {
  it.each(['/status', '/patroni'])('%s is 200 with no cluster view, no lease and PostgreSQL stopped', async (url) => {
    const { app } = harness(withNoCluster(withPgStopped(replicaState())));
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      name: 'node-b', scope: 'demo', role: 'replica', state: 'stopped', pause: false, sync_standby: false, dcs_last_seen: null,
      patroni: { name: 'node-b', scope: 'demo', version: '0.1.0' },
    });
  });

  it('is 200 for a primary whose lease expired, while /primary is 503', async () => {
    const { app } = harness(withLeaseExpired(primaryState()));
    expect((await app.inject({ method: 'GET', url: '/status' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/primary' })).statusCode).toBe(503);
  });

  it('follows the store: a new snapshot is served at once', async () => {
    const { app, store } = harness(primaryState());
    expect((await app.inject({ method: 'GET', url: '/status' })).json()).toMatchObject({ role: 'primary', pending_restart: false });
    store.set(primaryState({ pendingRestart: true }));
    expect((await app.inject({ method: 'GET', url: '/status' })).json()).toMatchObject({ pending_restart: true });
  });
});

describe('time moves, snapshot does not', () => {
  it('/primary goes 503 once the clock passes the lease deadline (rule 3)', async () => {
    const { app, clock } = harness(primaryState());
    expect((await app.inject({ method: 'OPTIONS', url: '/primary' })).statusCode).toBe(200);
    clock.t = primaryState().leaseDeadline!;
    expect((await app.inject({ method: 'OPTIONS', url: '/primary' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'OPTIONS', url: '/leader' })).statusCode).toBe(503);
  });

  it('/liveness goes 503 when lastCycleAt is older than ttl', async () => {
    const { app, clock } = harness(primaryState({ lastCycleAt: NOW }));
    clock.t = NOW + TTL_MS;
    expect((await app.inject({ method: 'GET', url: '/liveness' })).statusCode).toBe(200);
    clock.t = NOW + TTL_MS + 1;
    expect((await app.inject({ method: 'GET', url: '/liveness' })).statusCode).toBe(503);
  });
});

describe('/cluster and /history', () => {
  it('/cluster lists members with role, lag against the published optime, and tags', async () => {
    const view = clusterView({
      members: [
        member('node-a', { role: 'primary', walLsn: OPTIME, receivedLsn: null, replayedLsn: null }),
        member('node-b', { replayedLsn: OPTIME - 5000, tags: { nofailover: true, failoverPriority: 1, noloadbalance: false, nosync: false } }),
        member('node-c', { state: 'stopped', replayedLsn: null, receivedLsn: null, timeline: null }),
      ],
      failover: { leader: 'node-a', candidate: 'node-b', scheduledAt: '2030-01-01T00:00:00Z' },
    });
    const { app } = harness(withCluster(primaryState(), view));
    const res = await app.inject({ method: 'GET', url: '/cluster' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { scope: string; members: Record<string, unknown>[]; scheduled_switchover: unknown };
    expect(doc.scope).toBe('demo');
    expect(doc.members).toHaveLength(3);
    expect(doc.members[0]).toMatchObject({ name: 'node-a', role: 'leader', state: 'running', api_url: 'http://10.0.0.1:8008', host: 'node-a', port: 5432, timeline: 2 });
    expect(doc.members[0]).not.toHaveProperty('lag');
    expect(doc.members[1]).toMatchObject({ name: 'node-b', role: 'replica', lag: 5000, tags: { nofailover: true, failover_priority: 1 } });
    expect(doc.members[2]).toMatchObject({ name: 'node-c', role: 'replica', state: 'stopped', lag: null, timeline: null });
    expect(doc.scheduled_switchover).toEqual({ at: '2030-01-01T00:00:00Z', from: 'node-a', to: 'node-b' });
  });

  it('/cluster without a view is 503 JSON', async () => {
    const { app } = harness(withNoCluster(primaryState()));
    const res = await app.inject({ method: 'GET', url: '/cluster' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: { code: 'NO_CLUSTER_VIEW' } });
  });

  it('/history rows are arrays', async () => {
    const { app } = harness(primaryState());
    const res = await app.inject({ method: 'GET', url: '/history' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([[1, 0x1_000_000, 'no recovery target specified', '2025-01-01T00:00:00Z', 'node-a']]);
  });
});

describe('request logging', () => {
  it('health requests are not logged at info; other routes are', async () => {
    const { app, lines } = harness(primaryState(), 'info');
    await app.inject({ method: 'GET', url: '/primary' });
    await app.inject({ method: 'OPTIONS', url: '/replica' });
    await app.inject({ method: 'GET', url: '/status' });
    expect(lines).toEqual([]);
    await app.inject({ method: 'GET', url: '/cluster' });
    expect(lines.some((l) => l['msg'] === 'request completed' && l['component'] === 'api')).toBe(true);
  });

  it('health requests are logged at debug', async () => {
    const { app, lines } = harness(primaryState(), 'debug');
    await app.inject({ method: 'OPTIONS', url: '/replica' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 20, msg: 'health check', method: 'OPTIONS', url: '/replica', statusCode: 503 });
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:8008', { host: '127.0.0.1', port: 8008 }],
    ['[::1]:8009', { host: '::1', port: 8009 }],
    [':8008', { host: '0.0.0.0', port: 8008 }],
  ])('%s', (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each(['8008', 'host:', 'host:99999', 'host:port'])('%s is rejected', (text) => {
    expect(() => parseListen(text)).toThrow(/host:port/);
  });
});
