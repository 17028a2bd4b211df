// initializeCluster when a step fails, maybe only on its deadline (a late answer may hide a
// success). Regression for sim bootstrap-wipes-committed-cluster: a data directory that etcd
// records, or may still record, is never removed. Fakes stand in for etcd and PostgreSQL.
import { systemClock } from '../../../agent/clock.js';
import { describe, expect, it } from 'vitest';
import { recorder } from '../../harness/recorder.js';
import { execute } from '../../../agent/runtime/actions.js';
import { newSyncBarrier, type ActionContext } from '../../../agent/runtime/action-context.js';
import type { LeaseKeeper } from '../../../agent/runtime/lease-keeper.js';
import type { ClusterSnapshot, Dcs, PostgresNode } from '../../../agent/ports/ports.js';
import type { InitializeState } from '../../../agent/core/types.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { createLogger } from '../../../agent/log.js';
import { SYS, cluster, local, pgPrimary, pgStoppedEmpty, settings } from '../core/builders.js';

const LATE = new Error('complete initialize: deadline exceeded');


/**
 * Bootstrap on an empty data directory whose `complete initialize` fails. `reread` is what the
 * catch path then reads from etcd (an Error: etcd does not answer); `afterAbandon` what
 * abandonInitialize finds (an Error: it fails).
 */
async function failedBootstrap(reread: InitializeState | Error, afterAbandon: InitializeState | Error = { state: 'absent' }) {
  const calls: string[] = [];
  const snapshot = (initialize: InitializeState): ClusterSnapshot => ({
    view: cluster({ initialize, leader: 'b', members: [] }), config: null, configRevision: 0, revision: 1, leaderIsOurs: true, initializeIsOurs: false,
  });
  const dcs = recorder<Dcs>({
    claimInitialize: async () => true,
    acquireLeader: async () => true,
    completeInitialize: async () => { throw LATE; },
    readCluster: async () => { if (reread instanceof Error) throw reread; return snapshot(reread); },
    releaseLeader: async () => true,
    abandonInitialize: async () => { if (afterAbandon instanceof Error) throw afterAbandon; return afterAbandon; },
  }, calls);
  const pg = recorder<PostgresNode>({ probe: async () => pgPrimary({ systemId: SYS }) }, calls);
  const lease = { deadline: 1e12, arm: (on: boolean) => { calls.push(`arm(${on})`); }, renewNow: async () => true } as unknown as LeaseKeeper;
  const ctx: ActionContext = {
    name: 'b', dcs, pg, lease, clock: { ...systemClock, now: () => 1000, wallNow: () => 1000 }, logger: createLogger({ level: 'silent', format: 'json' }),
    race: {} as never, bootstrapConfig: DEFAULT_DYNAMIC_CONFIG, useSlots: () => true, dynamic: () => DEFAULT_DYNAMIC_CONFIG,
    settings: () => settings, peerTimeoutMs: () => 1000, progress: () => undefined,
    holdsKey: () => true, lastStatus: () => null, membersSeen: new Map(), syncBarrier: newSyncBarrier(),
  };
  const decision = { action: { kind: 'initialize_cluster' as const }, reason: 'test', rule: 'bootstrap.race' };
  await expect(execute(ctx, decision, cluster({ initialize: { state: 'absent' }, leader: null }), 1, local(pgStoppedEmpty))).rejects.toBe(LATE);
  // What happened after the failed completion.
  return calls.slice(calls.indexOf('completeInitialize') + 1).filter((c) => c !== 'probe' && c !== 'readCluster');
}

describe('initializeCluster after a failed step', () => {
  it('etcd recorded our system identifier (the late write landed): keeps everything', async () => {
    expect(await failedBootstrap({ state: 'done', systemId: SYS })).toEqual([]);
  });

  it('etcd cannot be read: removes nothing on a guess (the next cycles read it again)', async () => {
    expect(await failedBootstrap(new Error('read cluster: deadline exceeded'))).toEqual([]);
  });

  it('not recorded: gives the race back, and removes the fresh data once our claim is gone', async () => {
    expect(await failedBootstrap({ state: 'bootstrapping' }, { state: 'absent' }))
      .toEqual(['arm(false)', 'stop', 'releaseLeader', 'abandonInitialize', 'removeDataDir']);
  });

  it('not recorded at first, but the late write lands before the claim is given back: keeps the data', async () => {
    expect(await failedBootstrap({ state: 'bootstrapping' }, { state: 'done', systemId: SYS }))
      .toEqual(['arm(false)', 'stop', 'releaseLeader', 'abandonInitialize']);
  });

  it('not recorded, but the claim cannot be given back: keeps the data (a late write may still land)', async () => {
    expect(await failedBootstrap({ state: 'bootstrapping' }, new Error('abandon initialize: deadline exceeded')))
      .toEqual(['arm(false)', 'stop', 'releaseLeader', 'abandonInitialize']);
  });
});
