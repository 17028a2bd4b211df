// Carries out the synchronous replication plan (core/sync.ts) on the primary, in rule 5's
// order: unpublish (CAS) → synchronous_standby_names → publish (CAS). A failed CAS stops the
// cycle's plan; the next cycle starts again from what etcd and PostgreSQL say.
import type { ClusterView, SyncState } from '../core/types.js';
import { planSync, syncBarsPromotion } from '../core/sync.js';
import { neverPromote } from '../core/eligibility.js';
import type { ActionContext, SyncOutcome } from './action-context.js';

const SETTLE_MS = 100;
function settingChanged(ctx: ActionContext): void {
  ctx.syncBarrier.changedAt = ctx.clock.now();
  ctx.syncBarrier.lsn = null;
}


export async function manageSync(ctx: ActionContext, cluster: ClusterView): Promise<SyncOutcome> {
  const dyn = ctx.dynamic();
  const current: SyncState | null = cluster.sync;
  let published = current?.leader === ctx.name ? [...current.syncStandbys] : [];
  const barrier = ctx.syncBarrier;
  if (dyn.synchronous_mode && barrier.lsn === null && (barrier.changedAt === null || ctx.clock.now() - barrier.changedAt >= SETTLE_MS)) {
    barrier.lsn = (await ctx.pg.probe()).walLsn;
  }
  const rows = await ctx.pg.replication();
  const others = cluster.members.filter((m) => m.name !== ctx.name && !m.tags.nosync);
  const candidates = new Set(others.map((m) => m.name));
  const plan = planSync({
    enabled: dyn.synchronous_mode,
    strict: dyn.synchronous_mode_strict,
    count: dyn.synchronous_node_count,
    published,
    streaming: rows.filter((r) => r.state === 'streaming').map((r) => ({ name: r.application_name, lsn: r.replay_lsn })),
    candidates,
    pgSync: rows.filter((r) => r.sync_state === 'sync' || r.sync_state === 'quorum').map((r) => r.application_name),
    unpromotable: new Set(others.filter((m) => neverPromote(m.tags) !== null).map((m) => m.name)),
    caughtUpTo: barrier.lsn,
  });
  const log = ctx.logger.child({ component: 'sync' });
  let expected: SyncState | null = current;
  if (plan.unpublish) {
    const next = { leader: ctx.name, syncStandbys: [...plan.unpublish] };
    if (!(await ctx.dcs.writeSync(next, expected))) {
      log.warn({ next }, 'lost the compare-and-swap on sync; retrying next cycle');
      return { plan, published };
    }
    log.info({ removed: published.filter((n) => !plan.unpublish!.includes(n)), sync: next.syncStandbys }, 'unpublished synchronous standbys');
    expected = next;
    published = [...plan.unpublish];
  }
  const changed = await ctx.pg.setSynchronousStandbyNames(plan.ssn);
  if (changed) {
    settingChanged(ctx);
    if (plan.state === 'asynchronous') {
      log.warn({ action: 'sync', state: plan.state }, 'synchronous mode: no eligible standby; commits are acknowledged ASYNCHRONOUSLY until one returns (no automatic failover meanwhile)');
    } else if (plan.state === 'waiting') {
      log.warn({ action: 'sync', state: plan.state }, 'strict synchronous mode: no eligible standby; commits wait until one confirms');
    } else {
      log.info({ action: 'sync', chosen: plan.chosen, ssn: plan.ssn }, 'synchronous_standby_names updated');
    }
  } else if (plan.publish) {
    const next = { leader: ctx.name, syncStandbys: [...plan.publish] };
    if (await ctx.dcs.writeSync(next, expected)) {
      log.info({ action: 'sync', sync: next.syncStandbys }, 'published synchronous standbys');
      published = [...plan.publish];
    } else {
      log.warn({ next }, 'lost the compare-and-swap on sync; retrying next cycle');
    }
  }
  return { plan, published };
}

/**
 * Before a new primary promotes in synchronous mode it takes over `sync` (naming itself leader,
 * no standbys yet) with a CAS; if that fails it must not promote. In strict mode it also makes
 * every commit wait for a standby from its first transaction on.
 */
export async function claimSyncBeforePromote(ctx: ActionContext, cluster: ClusterView | null): Promise<boolean> {
  const dyn = ctx.dynamic();
  if (!dyn.synchronous_mode) return true;
  // A key won on a stale view: `sync` no longer names us. Give the key back rather than keep it
  // and promote on a later cycle (leader.promote) against the fresh `sync`.
  const barred = syncBarsPromotion(ctx.name, cluster);
  if (barred) {
    ctx.logger.warn({ action: 'promote' }, `not promoting: ${barred}; releasing the leader key`);
    await ctx.dcs.releaseLeader().catch(() => false);
    return false;
  }
  const next = { leader: ctx.name, syncStandbys: [] as string[] };
  if (!(await ctx.dcs.writeSync(next, cluster?.sync ?? null))) {
    ctx.logger.warn({ action: 'promote' }, 'postponing promotion: lost the compare-and-swap on sync');
    return false;
  }
  if (await ctx.pg.setSynchronousStandbyNames(dyn.synchronous_mode_strict ? '*' : '')) settingChanged(ctx);
  return true;
}
