// Carries out one decision. Side effects happen here only, in the order the decision names.
import type { Action, ClusterView, Decision, HaSettings, LocalView, PgState, PgView } from '../core/types.js';
import type { DynamicConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { wantedSlots } from '../core/slots.js';
import { withinLease } from '../core/lease.js';
import { bootstrapRecord } from '../core/bootstrap.js';
import type { Dcs, PostgresNode, Upstream, ViewChange } from '../ports/ports.js';
import type { LeaseKeeper } from './lease-keeper.js';
import { runRace, type RaceDeps } from './race-runner.js';
import { FatalAgentError } from './errors.js';
import { handOver } from './handover.js';
import { claimSyncBeforePromote, manageSync } from './sync-manager.js';
import { mayServeAsPrimary, type ActionContext } from './action-context.js';

function upstreamOf(cluster: ClusterView | null, name: string): Upstream {
  const m = cluster?.members.find((x) => x.name === name);
  if (!m) throw new Error(`leader ${name} has no member key; cannot reach its PostgreSQL`);
  return { name: m.name, host: m.host, port: m.port };
}

/**
 * `cluster` is the view `d` was decided on, read at etcd revision `clusterRevision` (null when
 * the cluster was not read for this decision: no race is run on such a view).
 */
export async function execute(
  ctx: ActionContext, d: Decision, cluster: ClusterView | null, clusterRevision: number | null, local: LocalView,
): Promise<void> {
  const a: Action = d.action;
  switch (a.kind) {
    case 'none':
    case 'wait':
    case 'stand_down':
      return;
    case 'refuse_start':
      throw new FatalAgentError(d.reason);
    case 'initialize_cluster':
      return initializeCluster(ctx, local);
    case 'clone_from_leader':
      return rebuild(ctx, upstreamOf(cluster, a.leader), false);
    case 'rebuild':
      return rebuild(ctx, upstreamOf(cluster, a.leader), true);
    case 'start_replica':
      await ctx.pg.configureStandby(a.leader ? upstreamOf(cluster, a.leader) : null);
      return withActivity(ctx, 'starting', () => ctx.pg.start());
    case 'start_primary':
      if (!mayServeAsPrimary(ctx)) {
        ctx.logger.warn({ action: 'start_primary' }, 'lease deadline passed; not starting as primary');
        return;
      }
      ctx.lease.arm(true);
      await ctx.pg.configurePrimary();
      return withActivity(ctx, 'starting', () => ctx.pg.start());
    case 'renew_leader':
      return publishLeaderState(ctx, cluster, local);
    case 'race':
      return race(ctx, cluster!, clusterRevision, local);
    case 'acquire_leader':
      await ctx.lease.renewNow();
      if (!(await ctx.dcs.acquireLeader())) ctx.logger.warn({ action: 'acquire_leader' }, 'could not take the leader key back');
      return;
    case 'promote':
      return promote(ctx, cluster, local, d.reason);
    case 'fence':
      ctx.lease.arm(false);
      await ctx.pg.stop('immediate');
      return;
    case 'follow':
      return ctx.pg.follow(upstreamOf(cluster, a.leader));
    case 'rewind':
      return rewind(ctx, upstreamOf(cluster, a.leader), local);
    case 'release_leader':
      await ctx.dcs.releaseLeader();
      return;
    case 'switchover': {
      const outcome = await handOver(ctx, cluster!, local, a.candidate, ctx.settings());
      if (outcome !== 'handed_over') await ctx.dcs.setFailover(null);
      return;
    }
    case 'clear_failover':
      await ctx.dcs.setFailover(null);
      return;
    default: {
      const unhandled: never = a;
      throw new Error(`unhandled action ${JSON.stringify(unhandled)}`);
    }
  }
}

async function withActivity(ctx: ActionContext, state: PgState, work: () => Promise<void>): Promise<void> {
  ctx.setActivity(state);
  try {
    await work();
  } finally {
    ctx.setActivity(null);
  }
}

async function initializeCluster(ctx: ActionContext, local: LocalView): Promise<void> {
  if (!(await ctx.dcs.claimInitialize())) {
    ctx.logger.info({ action: 'initialize_cluster' }, 'another member won the bootstrap race');
    return;
  }
  const fresh = local.pg.dataDir === 'empty';
  ctx.logger.info({ action: 'initialize_cluster', fresh }, fresh ? 'won the bootstrap race: running initdb' : 'won the bootstrap race: starting my existing data as primary');
  try {
    await withActivity(ctx, 'starting', async () => {
      if (fresh) await ctx.pg.initdb();
      await ctx.pg.configurePrimary();
      await ctx.pg.start();
      if (fresh) await ctx.pg.postBootstrap();
    });
    const probe = await ctx.pg.probe();
    if (!probe.systemId) throw new Error('bootstrapped PostgreSQL reports no system identifier');
    await ctx.dcs.initializeConfig(ctx.bootstrapConfig);
    await ctx.lease.renewNow();
    if (!(await ctx.dcs.acquireLeader())) throw new Error('could not take the leader key after bootstrap');
    ctx.lease.arm(true);
    await ctx.dcs.completeInitialize(probe.systemId);
    ctx.logger.info({ action: 'initialize_cluster', system_identifier: probe.systemId }, 'cluster bootstrapped; I am the leader');
  } catch (err) {
    await afterFailedBootstrap(ctx, fresh, err);
    throw err;
  }
}

/**
 * A bootstrap step failed, maybe only on its deadline: a late answer may hide a success. A data
 * directory whose system identifier etcd records IS the cluster now; one it may still record (a
 * write of ours still in flight, or etcd unreadable) must not go on a guess either. So: keep
 * everything while `initialize` records us or cannot be read; otherwise give the race back, and
 * remove the fresh data directory only once our claim is gone (then no late write of ours can
 * still record it: completeInitialize compares the claim).
 */
async function afterFailedBootstrap(ctx: ActionContext, fresh: boolean, err: unknown): Promise<void> {
  const recorded = await ctx.dcs.readCluster().then((s) => s.view.initialize).catch(() => null);
  const mine = (await ctx.pg.probe().catch(() => null))?.systemId ?? null;
  const outcome = bootstrapRecord(recorded, mine);
  if (outcome !== 'not_recorded') {
    ctx.logger.warn({ action: 'initialize_cluster', err: String(err), outcome }, outcome === 'recorded'
      ? 'bootstrap step failed after etcd recorded our system identifier; keeping the data directory'
      : 'bootstrap step failed and we cannot tell whether etcd recorded our system identifier; keeping everything as it is');
    return;
  }
  ctx.logger.error({ action: 'initialize_cluster', err: String(err) }, 'bootstrap failed; giving the race back');
  ctx.lease.arm(false);
  await ctx.pg.stop('immediate').catch(() => undefined);
  await ctx.dcs.releaseLeader().catch(() => false);
  const after = await ctx.dcs.abandonInitialize().catch(() => null);
  if (!fresh) return;
  if (bootstrapRecord(after, mine) === 'not_recorded') {
    await ctx.pg.removeDataDir().catch(() => undefined);
    return;
  }
  ctx.logger.warn({ action: 'initialize_cluster', initialize: after?.state ?? 'unreadable' },
    'could not make sure etcd will not record this bootstrap after all; keeping the data directory');
}

async function rebuild(ctx: ActionContext, from: Upstream, wipe: boolean): Promise<void> {
  await withActivity(ctx, 'creating replica', async () => {
    if (wipe) {
      await ctx.pg.stop('fast');
      await ctx.pg.removeDataDir();
    }
    await ctx.pg.basebackup(from);
  });
  ctx.setRewindFailed(false);
  await ctx.pg.configureStandby(from);
  await withActivity(ctx, 'starting', () => ctx.pg.start());
}

async function rewind(ctx: ActionContext, from: Upstream, local: LocalView): Promise<void> {
  let outcome: Awaited<ReturnType<PostgresNode['rewind']>> = 'failed';
  await withActivity(ctx, 'rewinding', async () => {
    if (local.pg.process === 'running') await ctx.pg.stop('fast');
    outcome = await ctx.pg.rewind(from);
  });
  ctx.logger.info({ action: 'rewind', outcome, leader: from.name }, `pg_rewind against ${from.name}: ${outcome}`);
  if (outcome === 'failed') {
    ctx.setRewindFailed(true);
    return;
  }
  ctx.setRewindFailed(false);
  await ctx.pg.configureStandby(from);
  await withActivity(ctx, 'starting', () => ctx.pg.start());
}

async function race(ctx: ActionContext, cluster: ClusterView, decidedAt: number | null, local: LocalView): Promise<void> {
  if (decidedAt === null) {
    ctx.logger.warn({ action: 'race' }, 'no cluster view read from etcd in this cycle; not racing');
    return;
  }
  const { decision, peers } = await runRace(ctx.race, cluster, local, ctx.settings(), ctx.peerTimeoutMs());
  ctx.logger.info({ action: decision.action.kind, reason: decision.reason, rule: decision.rule, peers }, decision.reason);
  if (decision.action.kind !== 'acquire_leader') return;
  // Fresh lease first, so our deadline as the new primary starts now, not at the last renewal.
  if (!(await ctx.lease.renewNow())) {
    ctx.logger.warn({ action: 'race' }, 'lease renewal failed right before the race; not racing');
    return;
  }
  // Rule 4 was judged on the view of revision `decidedAt`. Asking peers, renewing, a slow etcd or
  // a paused process may have let another member promote (and die) since: the key is taken only
  // if `status` and `history` are as we judged them (same transaction).
  let changed: readonly ViewChange[] = [];
  if (!(await ctx.dcs.acquireLeader({ decidedAtRevision: decidedAt, onViewChanged: (c) => { changed = c; } }))) {
    if (changed.length === 0) {
      ctx.logger.info({ action: 'race' }, 'lost the race for the leader key');
      return;
    }
    const what = changed.map((c) => `${c.key} modified at revision ${c.modRevision}`).join(', ');
    ctx.logger.info({ action: 'race', decided_at_revision: decidedAt, changed },
      `the cluster changed since I decided (${what} > ${decidedAt}); deciding again`);
    ctx.wakeUp('the cluster changed since the race was decided');
    return;
  }
  ctx.logger.info({ action: 'acquire_leader' }, 'won the race for the leader key');
  ctx.setHoldsKey(true);
  if (local.pg.role === 'primary') {
    ctx.lease.arm(true);
    return publishLeaderState(ctx, cluster, local);
  }
  return promote(ctx, cluster, local, decision.reason);
}

async function promote(ctx: ActionContext, cluster: ClusterView | null, local: LocalView, reason: string): Promise<void> {
  const before = local.pg.timeline ?? 0;
  const at = local.pg.replayedLsn ?? local.pg.receivedLsn ?? 0;
  const started = ctx.clock.now();
  if (!(await claimSyncBeforePromote(ctx, cluster))) {
    // Our view of `sync` was stale: do not sit on the key (the next cycle decides afresh).
    await ctx.dcs.releaseLeader();
    ctx.setHoldsKey(false);
    return;
  }
  if (!ctx.lease.guardReady) {
    // watchdog.mode required without a working watchdog: never promote, and do not sit on the key.
    ctx.logger.error({ action: 'promote' }, 'the fence guard (watchdog) is not working; releasing the leader key instead of promoting');
    await ctx.dcs.releaseLeader();
    ctx.setHoldsKey(false);
    return;
  }
  // Rule 2 at the moment of acting: never become writable past our lease deadline, and arm the
  // fence timer before PostgreSQL can accept a write.
  if (!mayServeAsPrimary(ctx)) {
    ctx.logger.warn({ action: 'promote' }, 'lease deadline passed before promoting; not promoting');
    return;
  }
  ctx.lease.arm(true);
  await ctx.pg.promote();
  ctx.lease.arm(true);
  const after = await ctx.pg.probe();
  // Health answers say "primary" at once; status, slots and history follow.
  ctx.publishPg(after);
  ctx.logger.info({ action: 'promote', timeline: after.timeline, took_ms: Math.round(ctx.clock.now() - started) }, 'promoted PostgreSQL to primary');
  await publishLeaderState(ctx, cluster, { ...local, pg: after });
  await ctx.dcs.appendHistory({
    timeline: before, lsn: at, reason, timestamp: new Date(ctx.clock.wallNow()).toISOString(), newLeader: ctx.name,
  }).catch((err: unknown) => ctx.logger.warn({ err: String(err) }, 'could not append to history'));
  if (cluster?.failover) await ctx.dcs.setFailover(null).catch(() => undefined);
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
async function publishLeaderState(ctx: ActionContext, cluster: ClusterView | null, local: LocalView): Promise<void> {
  const pg = local.pg;
  // A leader whose lease deadline passed (paused, slow) may have been replaced: it must not
  // overwrite the new leader's position, which eligibility is judged against.
  if (pg.walLsn !== null && pg.timeline !== null && mayServeAsPrimary(ctx)) {
    const next = { optime: pg.walLsn, timeline: pg.timeline };
    const last = ctx.lastStatus;
    if (!last || last.optime !== next.optime || last.timeline !== next.timeline) {
      if (await ctx.dcs.writeStatus(next)) ctx.lastStatus = next;
      else ctx.logger.warn({ action: 'publish_status' }, 'the leader key is not mine on my lease: not publishing my position');
    }
  }
  if (cluster && (ctx.dynamic().synchronous_mode || cluster.sync?.leader === ctx.name)) {
    ctx.onSync(await manageSync(ctx, cluster));
  }
  if (ctx.useSlots() && cluster) {
    await ctx.pg.syncSlots(slotsToKeep(ctx, cluster)).catch((err: unknown) =>
      ctx.logger.warn({ err: String(err) }, 'could not synchronise replication slots'));
  }
}
