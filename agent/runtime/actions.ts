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
      return rebuild(ctx, upstreamOf(cluster, a.leader), false, local);
    case 'rebuild':
      return rebuild(ctx, upstreamOf(cluster, a.leader), true, local);
    case 'start_replica':
      await ctx.pg.configureStandby(a.leader ? upstreamOf(cluster, a.leader) : null);
      return startPostgres(ctx, local);
    case 'start_primary':
      if (!mayServeAsPrimary(ctx)) {
        ctx.logger.warn({ action: 'start_primary' }, 'the leader key is not mine within my lease; not starting as primary');
        return NO_OUTCOME;
      }
      ctx.lease.arm(true);
      await ctx.pg.configurePrimary();
      try {
        return await startPostgres(ctx, local);
      } finally {
        ctx.lease.arm(true); // the start may have outlasted the lease: fence at once then
      }
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

async function rebuild(ctx: ActionContext, from: Upstream, wipe: boolean, local: LocalView): Promise<ActionOutcome> {
  await withActivity(ctx, 'creating replica', async () => {
    if (wipe) {
      await ctx.pg.stop('fast');
      await ctx.pg.setAsideDataDir();
    }
    await ctx.pg.basebackup(from);
  });
  await ctx.pg.configureStandby(from);
  return { rewindFailed: false, rewindRetry: null, ...(await startPostgres(ctx, local)) };
}

/** Delay before start attempt n+1 after n failed starts: 1 s, 2 s, 4 s … at most 30 s. */
export function startRetryDelayMs(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
}

/** Delay before pg_rewind attempt n+1 after n transient failures: 2 s, 4 s … at most 60 s. */
export function rewindRetryDelayMs(failures: number): number {
  return Math.min(60_000, 2000 * 2 ** Math.max(0, failures - 1));
}

/** After this many transient pg_rewind failures in a row an operator is told (retries go on). */
export const REWIND_RETRIES_BEFORE_ALERT = 10;

const errorText = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).replace(/^(start|rewind): /, '');

/**
 * Start PostgreSQL. A failure (port in use, a bad parameter, no space…) is not a sign that the
 * data diverged: it is recorded with PostgreSQL's own message and retried after a growing delay
 * (rule start.backoff), logged once per distinct message, and never answered with a rewind or
 * rebuild. A start aborted by stop() is not a failure.
 */
async function startPostgres(ctx: ActionContext, local: LocalView): Promise<ActionOutcome> {
  const previous = local.startRetry ?? null;
  try {
    await withActivity(ctx, 'starting', () => ctx.pg.start());
  } catch (err) {
    const error = errorText(err);
    if (/start aborted/.test(error)) throw err;
    const attempts = (previous?.attempts ?? 0) + 1;
    const delay = startRetryDelayMs(attempts);
    const fields = { action: 'start', attempts, retry_in_ms: delay, err: error };
    if (error !== previous?.error) ctx.logger.error(fields, `PostgreSQL could not start: ${error}; retrying with backoff`);
    else ctx.logger.debug(fields, 'PostgreSQL could not start (same error)');
    return { startRetry: { attempts, retryAt: ctx.clock.now() + delay, error } };
  }
  if (previous) ctx.logger.info({ action: 'start', failed_attempts: previous.attempts }, 'PostgreSQL started after failed attempts');
  await ctx.pg.discardOldDataDir().catch((err: unknown) =>
    ctx.logger.warn({ err: String(err) }, 'could not delete the old data directory kept aside'));
  return { startRetry: null };
}

/**
 * pg_rewind against the leader. Only an impossible rewind (outcome 'failed') may lead to a
 * rebuild (rule follower.rebuild-after-rewind-failed); a rejection (source refused, timeout…)
 * keeps the data directory and is retried after a growing delay (rule follower.rewind-retry).
 */
async function rewind(ctx: ActionContext, from: Upstream, local: LocalView): Promise<ActionOutcome> {
  let outcome: Awaited<ReturnType<PostgresNode['rewind']>> | null = null;
  let transient: string | null = null;
  await withActivity(ctx, 'rewinding', async () => {
    if (local.pg.process === 'running') await ctx.pg.stop('fast');
    try {
      outcome = await ctx.pg.rewind(from);
    } catch (err) {
      transient = errorText(err);
    }
  });
  if (transient !== null) {
    const error: string = transient;
    const previous = local.rewindRetry?.leader === from.name ? local.rewindRetry : null;
    const attempts = (previous?.attempts ?? 0) + 1;
    const delay = rewindRetryDelayMs(attempts);
    const fields = { action: 'rewind', leader: from.name, attempts, retry_in_ms: delay, err: error };
    if (attempts === REWIND_RETRIES_BEFORE_ALERT) {
      ctx.logger.error(fields, `pg_rewind against ${from.name} has failed ${attempts} times in a row (${error}); the data directory is kept and retries go on every ${Math.round(rewindRetryDelayMs(attempts) / 1000)} s; to rebuild this node instead, run pgwarden ctl reinit`);
    } else if (error !== previous?.error) {
      ctx.logger.warn(fields, `pg_rewind against ${from.name} failed, may be transient: ${error}; keeping my data and retrying`);
    } else {
      ctx.logger.debug(fields, 'pg_rewind failed again (same error)');
    }
    return { rewindRetry: { attempts, retryAt: ctx.clock.now() + delay, error, leader: from.name } };
  }
  ctx.logger.info({ action: 'rewind', outcome, leader: from.name }, `pg_rewind against ${from.name}: ${outcome === 'failed' ? 'impossible' : outcome}`);
  if (outcome === 'failed') return { rewindRetry: null, rewindFailed: true };
  await ctx.pg.configureStandby(from);
  return { rewindRetry: null, rewindFailed: false, ...(await startPostgres(ctx, local)) };
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

