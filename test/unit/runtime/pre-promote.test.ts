// A promotion refused by postgresql.pre_promote: PostgreSQL is not promoted and the key is given
// back (no node sits on the key without promoting). Allowed: the promotion goes on.
import { describe, expect, it } from 'vitest';
import { recorder } from '../../harness/recorder.js';
import { systemClock } from '../../../agent/clock.js';
import { execute } from '../../../agent/runtime/actions.js';
import { newSyncBarrier, type ActionContext } from '../../../agent/runtime/action-context.js';
import type { LeaseKeeper } from '../../../agent/runtime/lease-keeper.js';
import type { Dcs, PostgresNode, PromotionHook } from '../../../agent/ports/ports.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { createLogger } from '../../../agent/log.js';
import { NOW, cluster, local, pgReplica, settings } from '../core/builders.js';


async function promoteWith(hook: PromotionHook): Promise<string[]> {
  const calls: string[] = [];
  const dcs = recorder<Dcs>({ releaseLeader: async () => true, writeStatus: async () => true }, calls);
  const pg = recorder<PostgresNode>({ probe: async () => pgReplica() }, calls);
  const lease = { deadline: NOW + 1e9, guardReady: true, arm: () => undefined, renewNow: async () => true } as unknown as LeaseKeeper;
  const ctx: ActionContext = {
    name: 'b', dcs, pg, lease, clock: { ...systemClock, now: () => NOW, wallNow: () => NOW }, logger: createLogger({ level: 'silent', format: 'json' }),
    race: {} as never, prePromote: hook, bootstrapConfig: DEFAULT_DYNAMIC_CONFIG, useSlots: () => false, dynamic: () => DEFAULT_DYNAMIC_CONFIG,
    settings: () => settings, peerTimeoutMs: () => 1000, progress: () => undefined,
    holdsKey: () => true, lastStatus: () => null, membersSeen: new Map(), syncBarrier: newSyncBarrier(),
  };
  await execute(ctx, { action: { kind: 'promote' }, reason: 'test', rule: 'leader.promote' }, cluster({ leader: 'b' }), 1, local(pgReplica()));
  return calls;
}

describe('promote with pre_promote', () => {
  it('refused: no promotion, the key is released', async () => {
    const calls = await promoteWith({ run: async () => ({ ok: false, detail: 'exited 1: no' }) });
    expect(calls).not.toContain('promote');
    expect(calls).toContain('releaseLeader');
  });
  it('allowed: the promotion goes on', async () => {
    const calls = await promoteWith({ run: async () => ({ ok: true, detail: 'ok' }) });
    expect(calls).toContain('promote');
    expect(calls).not.toContain('releaseLeader');
  });
});
