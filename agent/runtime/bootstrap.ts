// Bootstrap: the first primary of a new cluster (initdb, the `initialize` claim as the lock), the
// re-initialization of a cluster whose etcd lost its data (from the most advanced existing data,
// decided like a failover race), and what a failed step may and may not undo.
import type { ClusterView, LocalView } from '../core/types.js';
import { bootstrapRecord, recoveryRival } from '../core/bootstrap.js';
import { runRace } from './race-runner.js';
import { isEligible, selfAsCandidate } from '../core/eligibility.js';
import { promote } from './leadership.js';
import { NO_OUTCOME, withActivity, type ActionContext, type ActionOutcome } from './action-context.js';

export async function initializeCluster(ctx: ActionContext, cluster: ClusterView | null, local: LocalView): Promise<ActionOutcome> {
  const fresh = local.pg.dataDir === 'empty';
  if (!fresh) return recoverCluster(ctx, cluster, local);
  if (!(await ctx.dcs.claimInitialize())) {
    ctx.logger.info({ action: 'initialize_cluster' }, 'another member won the bootstrap race');
    return NO_OUTCOME;
  }
  ctx.logger.info({ action: 'initialize_cluster', fresh }, 'won the bootstrap race: running initdb');
  try {
    await withActivity(ctx, 'starting', async () => {
      await ctx.pg.initdb();
      await ctx.pg.configurePrimary();
      await ctx.pg.start();
      await ctx.pg.postBootstrap();
    });
    const probe = await ctx.pg.probe();
    if (!probe.systemId) throw new Error('bootstrapped PostgreSQL reports no system identifier');
    await ctx.dcs.initializeConfig(ctx.bootstrapConfig);
    await ctx.lease.renewNow();
    if (!(await ctx.dcs.acquireLeader())) throw new Error('could not take the leader key after bootstrap');
    ctx.lease.arm(true);
    await ctx.dcs.completeInitialize(probe.systemId);
    ctx.logger.info({ action: 'initialize_cluster', system_identifier: probe.systemId }, 'cluster bootstrapped; I am the leader');
    return NO_OUTCOME;
  } catch (err) {
    await afterFailedBootstrap(ctx, true, err);
    throw err;
  }
}

/**
 * `initialize` is gone but our data directory holds the cluster's database (etcd lost its data,
 * or an earlier attempt of ours stopped half-way). The data decides, not who reads the empty etcd
 * first: like a failover race, ask every reachable peer and stand down for any live primary or
 * any peer further ahead; the winner claims `initialize`, takes the key on its lease, and
 * promotes its standby (started read-only by recover.start-standby) or keeps its primary.
 */
async function recoverCluster(ctx: ActionContext, cluster: ClusterView | null, local: LocalView): Promise<ActionOutcome> {
  if (!local.holdsInitializeClaim) {
    if (!cluster) return NO_OUTCOME;
    const { decision, peers } = await runRace(ctx.race, cluster, local, ctx.settings(), ctx.peerTimeoutMs());
    ctx.logger.info({ action: 'initialize_cluster', rule: decision.rule, peers }, `re-initializing from existing data: ${decision.reason}`);
    // A tie (same position, lower priority or later name) does not stop a re-initialization: the
    // create-only claim of `initialize` picks one of the equals, and a peer that may not lead
    // itself (synchronous mode, unsure it holds every commit) must not block us.
    const tie = decision.rule === 'race.peer-priority' || decision.rule === 'race.peer-name';
    if (decision.action.kind !== 'acquire_leader' && !tie) return NO_OUTCOME;
    const pg = local.pg;
    const operatorChoseMe = cluster.failover?.candidate === ctx.name && cluster.failover.leader === undefined;
    // A `status` written since etcd lost its data (an attempt that promoted, then lost its claim)
    // names a timeline and position: being behind it is being behind someone.
    const me = selfAsCandidate(ctx.name, local.tags, local.pg);
    // A running primary (it kept or regained its role) is judged by its WAL like a replica would be.
    const asCandidate = local.pg.role === 'primary' ? { ...me, role: 'replica' as const, replayedLsn: local.pg.walLsn } : me;
    const self = isEligible(asCandidate, cluster, ctx.settings());
    if (!operatorChoseMe && cluster.status && !self.ok) {
      ctx.logger.info({ action: 'initialize_cluster' }, `re-initializing from existing data: standing down, ${self.why}`);
      return NO_OUTCOME;
    }
    const rival = operatorChoseMe ? null : recoveryRival(cluster.members, ctx.name, pg.role === 'primary' ? pg.walLsn : Math.max(pg.receivedLsn ?? -1, pg.replayedLsn ?? -1), pg.timeline);
    if (rival !== null) {
      ctx.logger.info({ action: 'initialize_cluster', rival }, `re-initializing from existing data: standing down, the member key of ${rival} reports more WAL`);
      return NO_OUTCOME;
    }
    if (!(await ctx.dcs.claimInitialize())) {
      ctx.logger.info({ action: 'initialize_cluster' }, 'another member claimed `initialize` first');
      return NO_OUTCOME;
    }
  }
  try {
    const probe = await ctx.pg.probe();
    if (!probe.systemId) throw new Error('my PostgreSQL reports no system identifier');
    await ctx.dcs.initializeConfig(ctx.bootstrapConfig);
    if (!(await ctx.lease.renewNow())) throw new Error('could not renew my lease before taking the leader key');
    if (!(await ctx.dcs.acquireLeader())) throw new Error('could not take the leader key after claiming `initialize`');
    ctx.progress({ kind: 'holds-key', held: true });
    // The claim lives on our lease: if a renewal had to grant a new lease meanwhile, it is gone
    // and another member may be recovering; never promote without it.
    const now = await ctx.dcs.readCluster();
    if (!now.initializeIsOurs) throw new Error('my claim of `initialize` is gone (my lease expired meanwhile)');
    let outcome: ActionOutcome = NO_OUTCOME;
    if (probe.process === 'running' && probe.role === 'replica') {
      outcome = await promote(ctx, cluster, { ...local, pg: probe }, 're-initialized the cluster from the most advanced data (no `initialize` key)');
    } else if (probe.process === 'running' && probe.role === 'primary') {
      ctx.lease.arm(true);
    } else {
      throw new Error(`PostgreSQL is ${probe.process}: cannot lead on it yet`);
    }
    const after = await ctx.pg.probe();
    if (after.role !== 'primary') throw new Error('PostgreSQL did not become primary');
    await ctx.dcs.completeInitialize(probe.systemId);
    ctx.logger.info({ action: 'initialize_cluster', system_identifier: probe.systemId, timeline: after.timeline }, 're-initialized the cluster from my data; I am the leader');
    return outcome;
  } catch (err) {
    await afterFailedBootstrap(ctx, false, err);
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

