import { describe, expect, it } from 'vitest';
import { healthCheck, parseLag, type HealthQuery } from '../../../agent/api/health.js';
import {
  MB, NOW, TTL_MS, primaryState, replicaState, withCluster, withLeaseExpired, withNoCluster, withPaused,
  withStaleCluster, withSync, withTags,
} from './builders.js';
import type { NodeState } from '../../../agent/runtime/node-state.js';

const check = (path: string, state: NodeState, query: HealthQuery = {}, now = NOW) => healthCheck(path, query, state, now);

describe('parseLag', () => {
  it.each([
    ['1048576', MB], ['1024kB', MB], ['1MB', MB], ['1mb', MB], [' 1 MB ', MB], ['0.5MB', MB / 2],
    ['1GB', 1024 * MB], ['2TB', 2 * 1024 * 1024 * MB], ['0', 0], ['512B', 512],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseLag(text)).toBe(bytes);
  });

  it.each(['abc', '', '-1', '1XB', '1 M B', '1e6', 'MB', '99999999999999999999'])('%j is invalid', (text) => {
    expect(parseLag(text)).toBeNull();
  });
});

describe('?lag=', () => {
  it.each(['1MB', '1024kB', '1048576'])('%s: a replica exactly 1 MiB behind passes, 1 byte more fails', (lag) => {
    expect(check('/replica', replicaState({ lag: MB }), { lag }).status).toBe(200);
    expect(check('/replica', replicaState({ lag: MB + 1 }), { lag }).status).toBe(503);
  });

  it('compares the replayed position, not the received one', () => {
    const s = replicaState({ lag: 2 * MB });
    const caughtUpReceive = { ...s, pg: { ...s.pg, receivedLsn: s.cluster!.status!.optime } };
    expect(check('/replica', caughtUpReceive, { lag: '1MB' }).status).toBe(503);
  });

  it('without ?lag a lagging replica is still a replica', () => {
    expect(check('/replica', replicaState({ lag: 100 * MB })).status).toBe(200);
  });

  it('with no published leader position there is nothing to lag behind (Patroni)', () => {
    expect(check('/replica', withCluster(replicaState({ lag: 100 * MB }), { status: null }), { lag: '1MB' }).status).toBe(200);
  });

  it.each(['abc', '', '-5', '10 parsecs'])('?lag=%j is 400 naming lag', (lag) => {
    const r = check('/replica', replicaState(), { lag });
    expect(r.status).toBe(400);
    expect(r.error?.parameter).toBe('lag');
    expect(r.error?.message).toMatch(/lag/);
  });

  it('a repeated lag is 400', () => {
    expect(check('/replica', replicaState(), { lag: ['1MB', '2MB'] })).toMatchObject({ status: 400, error: { parameter: 'lag' } });
  });

  it('a bad lag is rejected on every health path, not only /replica', () => {
    expect(check('/primary', primaryState(), { lag: 'abc' }).status).toBe(400);
  });

  it('lag also gates /read-only, /sync and /async on a replica', () => {
    const lagging = withSync(replicaState({ lag: 2 * MB }));
    expect(check('/read-only', lagging, { lag: '1MB' }).status).toBe(503);
    expect(check('/sync', lagging, { lag: '1MB' }).status).toBe(503);
    expect(check('/sync', lagging, { lag: '3MB' }).status).toBe(200);
    expect(check('/async', replicaState({ lag: 2 * MB }), { lag: '1MB' }).status).toBe(503);
  });
});

describe('?tag_KEY=VALUE', () => {
  const tagged = withTags(replicaState(), { nofailover: true, failoverPriority: 3 });

  it.each([
    [{ tag_nofailover: 'true' }, 200],
    [{ tag_nofailover: 'TRUE' }, 200],
    [{ tag_nofailover: 'false' }, 503],
    [{ tag_failover_priority: '3' }, 200],
    [{ tag_failover_priority: '2' }, 503],
    [{ tag_nofailover: 'true', tag_failover_priority: '3' }, 200],
    [{ tag_nofailover: 'true', tag_failover_priority: '1' }, 503],
    [{ tag_nosync: 'false' }, 200],
    [{ tag_zone: 'eu' }, 503],
  ] as const)('/replica%j → %d', (query, status) => {
    expect(check('/replica', tagged, query).status).toBe(status);
  });

  it('is ignored on /primary and /leader (Patroni)', () => {
    expect(check('/primary', primaryState(), { tag_zone: 'eu' }).status).toBe(200);
    expect(check('/leader', primaryState(), { tag_zone: 'eu' }).status).toBe(200);
  });

  it('applies on /read-only and /health', () => {
    expect(check('/read-only', primaryState(), { tag_nofailover: 'false' }).status).toBe(200);
    expect(check('/read-only', primaryState(), { tag_nofailover: 'true' }).status).toBe(503);
    expect(check('/health', primaryState(), { tag_zone: 'eu' }).status).toBe(503);
  });

  it('a repeated tag is 400 naming it', () => {
    expect(check('/replica', tagged, { tag_nosync: ['a', 'b'] })).toMatchObject({ status: 400, error: { parameter: 'tag_nosync' } });
  });

  it('unrelated query keys are ignored', () => {
    expect(check('/replica', replicaState(), { haproxy: '1' }).status).toBe(200);
  });
});

describe('leader key and lease (rule 3)', () => {
  it('the lease deadline itself is already too late', () => {
    const s = primaryState();
    expect(check('/primary', s, {}, s.leaseDeadline! - 1).status).toBe(200);
    expect(check('/primary', s, {}, s.leaseDeadline!).status).toBe(503);
    expect(check('/leader', s, {}, s.leaseDeadline!).status).toBe(503);
  });

  it('a valid lease does not help when the key names another member', () => {
    const s = withCluster(primaryState(), { leader: 'node-c' });
    expect(check('/primary', s).status).toBe(503);
    expect(check('/leader', s).status).toBe(503);
  });

  it('PostgreSQL primary without the key is never /primary nor /read-only', () => {
    const s = withLeaseExpired(primaryState());
    expect(check('/primary', s).status).toBe(503);
    expect(check('/read-write', s).status).toBe(503);
    expect(check('/read-only', s).status).toBe(503);
  });

  it('no cluster view means no leader key', () => {
    expect(check('/leader', withNoCluster(primaryState())).status).toBe(503);
  });
});

describe('/liveness', () => {
  it('passes while the last cycle is within ttl', () => {
    const s = primaryState({ lastCycleAt: NOW - TTL_MS });
    expect(check('/liveness', s).status).toBe(200);
    expect(check('/liveness', s, {}, NOW + 1).status).toBe(503);
  });

  it('fails before the first cycle', () => {
    expect(check('/liveness', primaryState({ lastCycleAt: null })).status).toBe(503);
  });

  it('passes while paused even with a stale cycle', () => {
    const stale = primaryState({ lastCycleAt: NOW - 10 * TTL_MS });
    expect(check('/liveness', stale).status).toBe(503);
    expect(check('/liveness', withPaused(stale)).status).toBe(200);
  });
});

describe('cluster view validity', () => {
  it('/readiness of a replica needs a view read within ttl', () => {
    expect(check('/readiness', replicaState()).status).toBe(200);
    expect(check('/readiness', withStaleCluster(replicaState())).status).toBe(503);
    expect(check('/readiness', withNoCluster(replicaState())).status).toBe(503);
  });

  it('/readiness of the leader does not depend on view freshness', () => {
    expect(check('/readiness', withStaleCluster(primaryState())).status).toBe(200);
  });

  it('/sync and /async need a valid view', () => {
    expect(check('/async', replicaState()).status).toBe(200);
    expect(check('/async', withStaleCluster(replicaState())).status).toBe(503);
    expect(check('/sync', withSync(replicaState())).status).toBe(200);
    expect(check('/sync', withStaleCluster(withSync(replicaState()))).status).toBe(503);
  });

  it('a sync key left over with synchronous mode off does not make a sync standby', () => {
    const s = withSync(replicaState());
    const off = { ...s, settings: { ...s.settings, synchronousMode: false } };
    expect(check('/sync', off).status).toBe(503);
    expect(check('/async', off).status).toBe(200);
  });
});

it('an unknown path is 404, whatever the query', () => {
  expect(check('/master', primaryState()).status).toBe(404);
  expect(check('/primary/x', primaryState(), { lag: 'abc' }).status).toBe(404);
});
