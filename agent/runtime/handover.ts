// Planned handover of the primary role (switchover, and SIGTERM on the primary's agent):
// checkpoint while still serving, stop fast (PostgreSQL streams every WAL record, including the
// shutdown checkpoint, to connected replicas before it exits), confirm the candidate received
// the shutdown checkpoint, then release the key with the `failover` key naming the candidate so
// it promotes at once (watch) and nobody else races. If the candidate cannot confirm in time,
// restart as primary: we still hold the key, nothing was lost.
import type { ClusterView, HaSettings, LocalView } from '../core/types.js';
import { mayServeAsPrimary, type ActionContext } from './action-context.js';
import { sleep } from '../clock.js';

const CONFIRM_TIMEOUT_MS = 5000;
const POLL_MS = 25;

export type HandoverOutcome = 'handed_over' | 'candidate_lags' | 'not_confirmed';

async function peerWal(ctx: ActionContext, apiUrl: string, name: string): Promise<{ wal: number | null; replica: boolean }> {
  try {
    const p = ctx.race.toPeerStatus(name, await ctx.race.fetchPeer(apiUrl, 1000));
    return { wal: p.walLsn, replica: p.running && p.role === 'replica' };
  } catch {
    return { wal: null, replica: false };
  }
}

export async function handOver(
  ctx: ActionContext, cluster: ClusterView, local: LocalView, candidate: string, settings: HaSettings,
): Promise<HandoverOutcome> {
  const log = ctx.logger.child({ action: 'switchover', candidate });
  const m = cluster.members.find((x) => x.name === candidate);
  const before = m ? await peerWal(ctx, m.apiUrl, candidate) : { wal: null, replica: false };
  const mine = local.pg.walLsn ?? 0;
  if (!m || !before.replica || before.wal === null || mine - before.wal > settings.maximumLagOnFailover) {
    log.warn({ candidate_wal: before.wal, my_wal: mine }, `switchover to ${candidate} refused: it is not a caught-up streaming replica`);
    return 'candidate_lags';
  }
  const started = ctx.clock.now();
  ctx.progress({ kind: 'serving', serving: false });
  await ctx.pg.checkpoint();
  await ctx.pg.stop('fast');
  const stopped = await ctx.pg.probe();
  // Our /status says "stopped" from now on: the candidate asks its peers before it takes the key,
  // and a stale "running primary" made it back off for a whole loop (issue 11, item 18).
  ctx.progress({ kind: 'pg', pg: stopped });
  const checkpoint = stopped.checkpointLsn ?? mine;
  const until = ctx.clock.now() + CONFIRM_TIMEOUT_MS;
  let seen: number | null = null;
  while (ctx.clock.now() < until) {
    // Ask its PostgreSQL, not its API: the API's figures are refreshed once per HA cycle.
    seen = await ctx.pg.peerReceivedLsn({ name: m.name, host: m.host, port: m.port });
    if (seen !== null && seen > checkpoint) break;
    await sleep(ctx.clock, POLL_MS);
  }
  if (seen === null || seen <= checkpoint) {
    // Rule 2 as at every start of a primary: a handover that took past our lease deadline (a
    // frozen agent, a slow candidate) may already have been replaced by a failover.
    if (!mayServeAsPrimary(ctx)) {
      log.error({ checkpoint, candidate_wal: seen }, `${candidate} did not confirm our shutdown checkpoint and the leader key is no longer mine within my lease; not restarting as primary`);
      return 'not_confirmed';
    }
    log.error({ checkpoint, candidate_wal: seen }, `${candidate} did not confirm our shutdown checkpoint; restarting as primary`);
    ctx.lease.arm(true);
    await ctx.pg.configurePrimary();
    await ctx.pg.start();
    ctx.lease.arm(true); // the start may have outlasted the lease: fence at once then
    ctx.progress({ kind: 'serving', serving: true });
    return 'not_confirmed';
  }
  if (!mayServeAsPrimary(ctx)) {
    // Confirmed too late: the key went (our lease expired meanwhile) and a failover may have
    // chosen another leader; naming our candidate now would only start a second switchover.
    log.error({ checkpoint, candidate_wal: seen }, `${candidate} confirmed our shutdown checkpoint, but the leader key is no longer mine within my lease; not handing over`);
    return 'not_confirmed';
  }
  await ctx.dcs.setFailover({ candidate });
  // A release whose answer is lost may still land later: from here on we never serve as primary
  // again on this key (leader.release-after-handover releases it again if it is still ours).
  const released = await ctx.dcs.releaseLeader().catch((err: unknown) => {
    log.warn({ err: String(err) }, 'could not confirm the release of the leader key; it is released again next cycle if still mine');
    return false;
  });
  ctx.lease.arm(false);
  log.info({ checkpoint, candidate_wal: seen, released, took_ms: Math.round(ctx.clock.now() - started) },
    `stopped cleanly and released the leader key to ${candidate}`);
  return 'handed_over';
}
