// `ctl switchover`: a planned handover from the leader to a caught-up replica (POST /switchover
// to the leader), now or at a scheduled time; `--cancel` drops a scheduled one (DELETE
// /switchover). Asks for confirmation unless --force.
import { scheduledAtProblem } from '../../http/scheduled-at.js';
import { ask, confirm } from '../confirm.js';
import { expectOk, findMember, leaderOf, readCluster, sendToFirst, waitUntil, type CtlContext } from '../context.js';
import { CtlFailure, CtlUsageError } from '../io.js';
import { messageOf } from '../http.js';
import { listing } from './list.js';
import type { ClusterRead } from '../etcd.js';
import { renderListing } from '../render.js';
import type { CommandRegistrar } from '../command.js';

export interface SwitchoverOptions {
  readonly leader?: string | undefined;
  readonly candidate?: string | undefined;
  /** ISO-8601 with a time zone, or "now". */
  readonly scheduled?: string | undefined;
  readonly force: boolean;
  /** Seconds the agent may take to answer. */
  readonly timeout: number;
  /** Cancel the scheduled switchover instead. */
  readonly cancel?: boolean | undefined;
}

export const switchoverCommand: CommandRegistrar = (y, runner) => y.command(
  'switchover',
  'planned handover from the leader to a caught-up replica',
  (b) => b
    .option('leader', { type: 'string', describe: 'the current leader (checked; default: whoever holds the key)' })
    .option('candidate', { type: 'string', describe: 'the new leader (default: the best eligible replica)' })
    .option('scheduled', { type: 'string', describe: 'when: ISO-8601 with a time zone (2030-01-01T03:00:00Z), or "now"' })
    .option('force', { type: 'boolean', default: false, describe: 'do not ask for confirmation' })
    .option('timeout', { type: 'number', default: 90, describe: 'seconds to wait for the agent\'s answer' })
    .option('cancel', { type: 'boolean', describe: 'cancel the scheduled switchover' })
    .conflicts('cancel', ['candidate', 'scheduled', 'leader']),
  (argv) => runner.run(argv, (ctx) => runSwitchover(ctx, argv)),
);

export async function runSwitchover(ctx: CtlContext, o: SwitchoverOptions): Promise<number> {
  const { io } = ctx;
  const read = await readCluster(ctx);
  const leader = leaderOf(read);
  if (o.cancel) return cancelSwitchover(ctx, read);
  if (leader === null) {
    throw new CtlFailure(`cluster ${ctx.scope} has no leader; a switchover needs one (use \`pgwarden ctl failover --candidate <member>\`)`);
  }
  if (o.leader !== undefined && o.leader !== leader.name) {
    throw new CtlFailure(`the leader is ${leader.name}, not ${o.leader}`);
  }
  let candidate = o.candidate;
  const others = read.view.members.filter((m) => m.name !== leader.name).map((m) => m.name);
  if (candidate === undefined && io.interactive && !o.force) {
    candidate = (await ask(io, `Candidate [${others.join(', ')}] (empty: the best eligible one): `)) || undefined;
  }
  if (candidate !== undefined) {
    if (candidate === leader.name) throw new CtlUsageError(`${candidate} is already the leader: switchover target and source are the same`);
    findMember(read, candidate);
  }
  const scheduledAt = o.scheduled === undefined || o.scheduled === 'now' ? undefined : o.scheduled;
  if (scheduledAt !== undefined) {
    const problem = scheduledAtProblem(scheduledAt, io.wallNow());
    if (problem) throw new CtlUsageError(problem.replace('scheduled_at', '--scheduled'));
  }
  await confirm(io, `Switch over cluster ${ctx.scope} from ${leader.name} to ${candidate ?? 'the best eligible replica'}${scheduledAt ? ` at ${scheduledAt}` : ' now'}?`, { force: o.force });

  const body = { leader: leader.name, ...(candidate ? { candidate } : {}), ...(scheduledAt ? { scheduled_at: scheduledAt } : {}) };
  const order = [leader, ...read.view.members.filter((m) => m !== leader)];
  const { res } = await sendToFirst(ctx, order, 'POST', '/switchover', { body, timeoutMs: o.timeout * 1000 });
  if (res.status === 202) {
    io.stdout.write(`${messageOf(res)}\n`);
    return 0;
  }
  io.stdout.write(`${expectOk(res, 'switchover')}\n`);
  // Show the table once the old leader runs again as a replica (or after 15 s, whichever first).
  await waitUntil(ctx, `${leader.name} to rejoin`, 15_000, async () => {
    const m = (await readCluster(ctx)).view.members.find((x) => x.name === leader.name);
    return m?.state === 'running' ? true : null;
  }, 500).catch(() => undefined);
  io.stdout.write(renderListing(await listing(ctx)));
  return 0;
}

async function cancelSwitchover(ctx: CtlContext, read: ClusterRead): Promise<number> {
  const scheduled = read.view.failover?.scheduledAt;
  if (!scheduled) throw new CtlFailure(`cluster ${ctx.scope} has no scheduled switchover`);
  // Cancelling is harmless (nothing changes): no confirmation.
  const leader = leaderOf(read);
  const order = [...(leader ? [leader] : []), ...read.view.members.filter((m) => m !== leader)];
  const { res } = await sendToFirst(ctx, order, 'DELETE', '/switchover', { timeoutMs: 15_000 });
  ctx.io.stdout.write(`${expectOk(res, 'cancelling the switchover')}\n`);
  return 0;
}
