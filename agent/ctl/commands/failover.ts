// `ctl failover --candidate X`: manual promotion, for when there is no healthy leader (with a
// healthy leader the agents turn it into a switchover to X). May lose transactions that X has
// not received; asks for confirmation unless --force.
import { ask, confirm } from '../confirm.js';
import { expectOk, findMember, leaderOf, readCluster, sendToFirst, type CtlContext } from '../context.js';
import { CtlUsageError } from '../io.js';
import { listing } from './list.js';
import { renderListing } from '../render.js';
import type { CommandRegistrar } from '../command.js';

export interface FailoverOptions {
  readonly candidate?: string | undefined;
  readonly force: boolean;
  readonly timeout: number;
}

export const failoverCommand: CommandRegistrar = (y, runner) => y.command(
  'failover',
  'promote a replica by hand (no healthy leader); may lose unreplicated transactions',
  (b) => b
    .option('candidate', { type: 'string', describe: 'the member to promote (required without a terminal)' })
    .option('force', { type: 'boolean', default: false, describe: 'do not ask for confirmation' })
    .option('timeout', { type: 'number', default: 90, describe: 'seconds to wait for the agent\'s answer' }),
  (argv) => runner.run(argv, (ctx) => runFailover(ctx, argv)),
);

export async function runFailover(ctx: CtlContext, o: FailoverOptions): Promise<number> {
  const { io } = ctx;
  const read = await readCluster(ctx);
  const leader = leaderOf(read);
  let candidate = o.candidate;
  if (candidate === undefined) {
    if (!io.interactive || o.force) throw new CtlUsageError('failover needs --candidate <member>');
    const names = read.view.members.filter((m) => m !== leader).map((m) => m.name);
    candidate = await ask(io, `Candidate [${names.join(', ')}]: `);
    if (!candidate) throw new CtlUsageError('failover needs a candidate');
  }
  const target = findMember(read, candidate);
  if (leader?.name === target.name) throw new CtlUsageError(`${target.name} is already the leader`);
  const risk = leader
    ? `${leader.name} holds the leader key: this becomes a switchover to ${target.name}.`
    : `There is no leader. Transactions ${target.name} has not received are lost.`;
  await confirm(io, `${risk}\nFail over cluster ${ctx.scope} to ${target.name}?`, { force: o.force });

  const order = [target, ...(leader ? [leader] : []), ...read.view.members.filter((m) => m !== target && m !== leader)];
  const { res } = await sendToFirst(ctx, order, 'POST', '/failover', { body: { candidate: target.name }, timeoutMs: o.timeout * 1000 });
  io.stdout.write(`${expectOk(res, 'failover')}\n`);
  io.stdout.write(renderListing(await listing(ctx)));
  return 0;
}
