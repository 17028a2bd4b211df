// A leader race through the HA loop (ha-loop.ts → actions.ts race()): the replica decides on the
// cluster view of etcd revision R and takes the key only while that view holds, i.e. with
// acquireLeader({ decidedAtRevision: R }). Regression for the simulator's KNOWN RUNTIME BUG
// stale-race-view (scenario "a race decided on a view that changed before the key was taken is
// lost"). Fakes stand in for etcd and PostgreSQL; the etcd transaction itself is tested against
// real etcd in test/integration/dcs/etcd-dcs.test.ts.
import { systemClock } from '../../../agent/clock.js';
import { describe, expect, it } from 'vitest';
import type { PgView } from '../../../agent/core/types.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import type { AcquireLeaderOptions, ClusterSnapshot, Dcs, PostgresNode } from '../../../agent/ports/ports.js';
import { clusterView, member, replicaState } from '../api/builders.js';
import { captureLogger } from '../../harness/capture-log.js';
import { fake, replicaLoop } from './fakes.js';

/** The etcd revision the cycle's cluster view is read at. */
const R = 41;

/**
 * One cycle of node-b, an eligible replica, with no leader; `acquire` answers acquireLeader.
 * `synchronous`: synchronous mode, `sync` naming node-b; `over` replaces other etcd calls.
 */
async function raceOnce(acquire: (opts: AcquireLeaderOptions) => boolean, o: { synchronous?: boolean; over?: Partial<Dcs> } = {}) {
  const t = 1000;
  const clock = { ...systemClock, now: () => t, wallNow: () => 1_735_689_600_000 + t };
  const asked: AcquireLeaderOptions[] = [];
  const pgCalls: string[] = [];
  const dcs = fake<Dcs>({
    readCluster: async (): Promise<ClusterSnapshot> => ({
      view: clusterView({ leader: null, members: [member('node-b')], sync: o.synchronous ? { leader: 'node-a', syncStandbys: ['node-b'] } : null }),
      config: o.synchronous ? { ...DEFAULT_DYNAMIC_CONFIG, synchronous_mode: true } : null,
      configRevision: 0, revision: R, leaderIsOurs: false, initializeIsOurs: false,
    }),
    renewLease: async () => ({ sentAt: clock.now(), ttlMs: 3000, newLease: false, epoch: 1 }),
    acquireLeader: async (opts) => {
      asked.push(opts ?? {});
      return acquire(opts ?? {});
    },
    ...o.over,
  });
  const replicaPg: PgView = replicaState().pg;
  const pg = fake<PostgresNode>({
    probe: async () => replicaPg, onUnexpectedExit: () => undefined, replication: async () => [],
    promote: async () => { pgCalls.push('promote'); },
  });
  const { logger, lines } = captureLogger();
  const { loop } = replicaLoop({ dcs, pg, clock, logger });
  const decision = await loop.cycle();
  expect(decision.rule).toBe('leaderless.race');
  return { asked, promoted: pgCalls.includes('promote'), lines };
}

describe('leader race: the key is taken only on the view the race was decided on', () => {
  it('asks for the key conditional on the revision of the cycle\'s view, and promotes when it gets it', async () => {
    const { asked, promoted } = await raceOnce(() => true);
    expect(asked).toHaveLength(1);
    expect(asked[0]?.decidedAtRevision).toBe(R);
    expect(promoted).toBe(true);
  });

  it('status changed since: does not promote, says why, and decides again at once', async () => {
    const { promoted, lines } = await raceOnce((opts) => {
      opts.onViewChanged?.([{ key: 'status', modRevision: 45 }, { key: 'history', modRevision: 46 }]);
      return false;
    });
    expect(promoted).toBe(false);
    expect(lines.map((l) => l.msg)).toContain(
      'the cluster changed since I decided (status modified at revision 45, history modified at revision 46 > 41); deciding again');
    expect(lines.some((l) => l.msg === 'waking the HA loop' && l['why'] === 'the cluster changed since the race was decided')).toBe(true);
  });

  it('the key is taken by another member: does not promote (the watch wakes the loop)', async () => {
    const { promoted, lines } = await raceOnce(() => false);
    expect(promoted).toBe(false);
    expect(lines.map((l) => l.msg)).toContain('lost the race for the leader key');
    expect(lines.some((l) => l.msg === 'waking the HA loop')).toBe(false);
  });

  it('synchronous mode, second line: a key won while `sync` changed is given back, not promoted on', async () => {
    const released: string[] = [];
    const { asked, promoted } = await raceOnce(() => true, {
      synchronous: true,
      over: { writeSync: async () => false, releaseLeader: async () => { released.push('node-b'); return true; } },
    });
    expect(asked[0]?.decidedAtRevision).toBe(R);
    expect(promoted).toBe(false);
    expect(released).toEqual(['node-b']);
  });
});
