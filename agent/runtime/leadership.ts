// What makes and keeps a leader: promotion (after the sync claim and rule 2's check at the moment
// of acting) and the leader's per-cycle duties (publish its position, synchronous standbys, slots).
import type { ClusterView, LeaderStatus, LocalView } from '../core/types.js';
import { wantedSlots } from '../core/slots.js';
import { claimSyncBeforePromote, manageSync } from './sync-manager.js';
import { NO_OUTCOME, mayServeAsPrimary, type ActionContext, type ActionOutcome, type SyncOutcome } from './action-context.js';

export async function promote(ctx: ActionContext, cluster: ClusterView | null, local: LocalView, reason: string): Promise<ActionOutcome> {
  const before = local.pg.timeline ?? 0;
  const at = local.pg.replayedLsn ?? local.pg.receivedLsn ?? 0;
  const started = ctx.clock.now();
  if (!(await claimSyncBeforePromote(ctx, cluster))) {
    // Our view of `sync` was stale: do not sit on the key (the next cycle decides afresh).
    await ctx.dcs.releaseLeader();
    ctx.progress({ kind: 'holds-key', held: false });
    return NO_OUTCOME;
  }
  if (!ctx.lease.guardReady) {
    // watchdog.mode required without a working watchdog: never promote, and do not sit on the key.
    ctx.logger.error({ action: 'promote' }, 'the fence guard (watchdog) is not working; releasing the leader key instead of promoting');
    await ctx.dcs.releaseLeader();
    ctx.progress({ kind: 'holds-key', held: false });
    return NO_OUTCOME;
  }
  if (ctx.prePromote) {
    // The operator's own check (issue 12, item 3): a non-zero exit aborts, and we do not sit on
    // the key meanwhile. Bounded by half the lease: it must leave time to promote.
    const r = await ctx.prePromote.run(Math.max(1000, Math.round(ctx.settings().ttlMs / 2)))
      .catch((err: unknown) => ({ ok: false, detail: String(err) }));
    if (!r.ok) {
      ctx.logger.error({ action: 'promote', hook: 'pre_promote', output: r.detail }, `pre_promote refused the promotion: ${r.detail}; releasing the leader key`);
      await ctx.dcs.releaseLeader().catch(() => false);
      ctx.progress({ kind: 'holds-key', held: false });
      return NO_OUTCOME;
    }
    ctx.logger.info({ action: 'promote', hook: 'pre_promote', output: r.detail }, 'pre_promote allowed the promotion');
  }
  // Rule 2 at the moment of acting: never become writable past our lease deadline, and arm the
  // fence timer before PostgreSQL can accept a write.
  if (!mayServeAsPrimary(ctx)) {
    ctx.logger.warn({ action: 'promote' }, 'lease deadline passed before promoting; not promoting');
    return NO_OUTCOME;
  }
  ctx.lease.arm(true);
  await ctx.pg.promote();
  ctx.lease.arm(true);
  const after = await ctx.pg.probe();
  // Health answers say "primary" at once; status, slots and history follow.
  ctx.progress({ kind: 'pg', pg: after });
  ctx.logger.info({ action: 'promote', timeline: after.timeline, took_ms: Math.round(ctx.clock.now() - started) }, 'promoted PostgreSQL to primary');
  const published = await publishLeaderState(ctx, cluster, { ...local, pg: after });
  await ctx.dcs.appendHistory({
    timeline: before, lsn: at, reason, timestamp: new Date(ctx.clock.wallNow()).toISOString(), newLeader: ctx.name,
  }).catch((err: unknown) => ctx.logger.warn({ err: String(err) }, 'could not append to history'));
  if (cluster?.failover) await ctx.dcs.setFailover(null).catch(() => undefined);
  return published;
}

/**
 * A slot per member, kept for a while after its key is gone: a replica whose agent restarts
 * (its member key expired after ttl) must find its slot again. After that the member counts as
 * removed and its slot is dropped (so it cannot hold WAL forever).
 */
export function slotRetentionMs(ttlMs: number): number {
  return Math.max(30_000, 10 * ttlMs);
}

function slotsToKeep(ctx: ActionContext, cluster: ClusterView): string[] {
  const now = ctx.clock.now();
  const keepFor = slotRetentionMs(ctx.settings().ttlMs);
  const recent = [...ctx.membersSeen].filter(([, at]) => now - at <= keepFor).map(([name]) => ({ name }));
  const names = new Map([...cluster.members, ...recent].map((m) => [m.name, { name: m.name }]));
  return wantedSlots(ctx.name, [...names.values()]);
}

/** The leader's per-cycle duties: publish its position, keep one slot per member. */
export async function publishLeaderState(ctx: ActionContext, cluster: ClusterView | null, local: LocalView): Promise<ActionOutcome> {
  const pg = local.pg;
  let lastStatus: LeaderStatus | undefined;
  let sync: SyncOutcome | undefined;
  // A leader whose lease deadline passed (paused, slow) may have been replaced: it must not
  // overwrite the new leader's position, which eligibility is judged against.
  if (pg.walLsn !== null && pg.timeline !== null && mayServeAsPrimary(ctx)) {
    const next = { optime: pg.walLsn, timeline: pg.timeline };
    const last = ctx.lastStatus();
    if (!last || last.optime !== next.optime || last.timeline !== next.timeline) {
      if (await ctx.dcs.writeStatus(next)) lastStatus = next;
      else ctx.logger.warn({ action: 'publish_status' }, 'the leader key is not mine on my lease: not publishing my position');
    }
  }
  if (cluster && (ctx.dynamic().synchronous_mode || cluster.sync?.leader === ctx.name)) {
    sync = await manageSync(ctx, cluster);
  }
  if (ctx.useSlots() && cluster) {
    await ctx.pg.syncSlots(slotsToKeep(ctx, cluster)).catch((err: unknown) =>
      ctx.logger.warn({ err: String(err) }, 'could not synchronise replication slots'));
  }
  return { ...(lastStatus ? { lastStatus } : {}), ...(sync ? { sync } : {}) };
}
