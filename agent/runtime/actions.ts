// Carries out one decision. Side effects happen here only, in the order the decision names.
import type { Action, ClusterView, Decision, LocalView } from '../core/types.js';
import type { PostgresNode, Upstream, ViewChange } from '../ports/ports.js';
import { runRace } from './race-runner.js';
import { FatalAgentError } from './errors.js';
import { handOver } from './handover.js';
import { initializeCluster } from './bootstrap.js';
import { promote, publishLeaderState } from './leadership.js';
import { NO_OUTCOME, mayServeAsPrimary, withActivity, type ActionContext, type ActionOutcome } from './action-context.js';

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
): Promise<ActionOutcome> {
  const a: Action = d.action;
  switch (a.kind) {
    case 'none':
    case 'wait':
    case 'stand_down':
      return NO_OUTCOME;
    case 'refuse_start':
      throw new FatalAgentError(d.reason);
    case 'initialize_cluster':
      return initializeCluster(ctx, cluster, local);
    case 'clone_from_leader':
      return rebuild(ctx, upstreamOf(cluster, a.leader), false);
    case 'rebuild':
      return rebuild(ctx, upstreamOf(cluster, a.leader), true);
    case 'start_replica':
      await ctx.pg.configureStandby(a.leader ? upstreamOf(cluster, a.leader) : null);
      await withActivity(ctx, 'starting', () => ctx.pg.start());
      return NO_OUTCOME;
    case 'start_primary':
      if (!mayServeAsPrimary(ctx)) {
        ctx.logger.warn({ action: 'start_primary' }, 'the leader key is not mine within my lease; not starting as primary');
        return NO_OUTCOME;
      }
      ctx.lease.arm(true);
      await ctx.pg.configurePrimary();
      await withActivity(ctx, 'starting', () => ctx.pg.start());
      return NO_OUTCOME;
    case 'renew_leader':
      return publishLeaderState(ctx, cluster, local);
    case 'race':
      return race(ctx, cluster!, clusterRevision, local);
    case 'acquire_leader':
      await ctx.lease.renewNow();
      if (!(await ctx.dcs.acquireLeader())) ctx.logger.warn({ action: 'acquire_leader' }, 'could not take the leader key back');
      return NO_OUTCOME;
    case 'promote':
      return promote(ctx, cluster, local, d.reason);
    case 'fence':
      ctx.lease.arm(false);
      await ctx.pg.stop('immediate');
      return NO_OUTCOME;
    case 'follow':
      await ctx.pg.follow(upstreamOf(cluster, a.leader));
      return NO_OUTCOME;
    case 'rewind':
      return rewind(ctx, upstreamOf(cluster, a.leader), local);
    case 'release_leader':
      await ctx.dcs.releaseLeader();
      return NO_OUTCOME;
    case 'delete_invalid_leader': {
      const deleted = await ctx.dcs.deleteLeaderAt(a.revision);
      ctx.logger.warn({ action: 'delete_invalid_leader', revision: a.revision, deleted }, deleted
        ? 'deleted the leader key nobody could own'
        : 'the leader key changed since it was judged; not deleted');
      return { wakeUp: 'the leader key was judged invalid' };
    }
    case 'switchover': {
      const outcome = await handOver(ctx, cluster!, local, a.candidate, ctx.settings());
      if (outcome !== 'handed_over') await ctx.dcs.setFailover(null);
      return { cleanHandover: outcome === 'handed_over' };
    }
    case 'clear_failover':
      await ctx.dcs.setFailover(null);
      return NO_OUTCOME;
    default: {
      const unhandled: never = a;
      throw new Error(`unhandled action ${JSON.stringify(unhandled)}`);
    }
  }
}

async function rebuild(ctx: ActionContext, from: Upstream, wipe: boolean): Promise<ActionOutcome> {
  await withActivity(ctx, 'creating replica', async () => {
    if (wipe) {
      await ctx.pg.stop('fast');
      await ctx.pg.removeDataDir();
    }
    await ctx.pg.basebackup(from);
  });
  await ctx.pg.configureStandby(from);
  await withActivity(ctx, 'starting', () => ctx.pg.start());
  return { rewindFailed: false };
}

async function rewind(ctx: ActionContext, from: Upstream, local: LocalView): Promise<ActionOutcome> {
  let outcome: Awaited<ReturnType<PostgresNode['rewind']>> = 'failed';
  await withActivity(ctx, 'rewinding', async () => {
    if (local.pg.process === 'running') await ctx.pg.stop('fast');
    outcome = await ctx.pg.rewind(from);
  });
  ctx.logger.info({ action: 'rewind', outcome, leader: from.name }, `pg_rewind against ${from.name}: ${outcome}`);
  if (outcome === 'failed') return { rewindFailed: true };
  await ctx.pg.configureStandby(from);
  await withActivity(ctx, 'starting', () => ctx.pg.start());
  return { rewindFailed: false };
}

async function race(ctx: ActionContext, cluster: ClusterView, decidedAt: number | null, local: LocalView): Promise<ActionOutcome> {
  if (decidedAt === null) {
    ctx.logger.warn({ action: 'race' }, 'no cluster view read from etcd in this cycle; not racing');
    return NO_OUTCOME;
  }
  const { decision, peers } = await runRace(ctx.race, cluster, local, ctx.settings(), ctx.peerTimeoutMs());
  ctx.logger.info({ action: decision.action.kind, reason: decision.reason, rule: decision.rule, peers }, decision.reason);
  if (decision.action.kind !== 'acquire_leader') return NO_OUTCOME;
  // Fresh lease first, so our deadline as the new primary starts now, not at the last renewal.
  if (!(await ctx.lease.renewNow())) {
    ctx.logger.warn({ action: 'race' }, 'lease renewal failed right before the race; not racing');
    return NO_OUTCOME;
  }
  // Rule 4 was judged on the view of revision `decidedAt`. Asking peers, renewing, a slow etcd or
  // a paused process may have let another member promote (and die) since: the key is taken only
  // if `status` and `history` are as we judged them (same transaction).
  let changed: readonly ViewChange[] = [];
  if (!(await ctx.dcs.acquireLeader({ decidedAtRevision: decidedAt, onViewChanged: (c) => { changed = c; } }))) {
    if (changed.length === 0) {
      ctx.logger.info({ action: 'race' }, 'lost the race for the leader key');
      return NO_OUTCOME;
    }
    const what = changed.map((c) => `${c.key} modified at revision ${c.modRevision}`).join(', ');
    ctx.logger.info({ action: 'race', decided_at_revision: decidedAt, changed },
      `the cluster changed since I decided (${what} > ${decidedAt}); deciding again`);
    return { wakeUp: 'the cluster changed since the race was decided' };
  }
  ctx.logger.info({ action: 'acquire_leader' }, 'won the race for the leader key');
  ctx.progress({ kind: 'holds-key', held: true });
  if (local.pg.role === 'primary') {
    ctx.lease.arm(true);
    return publishLeaderState(ctx, cluster, local);
  }
  return promote(ctx, cluster, local, decision.reason);
}

