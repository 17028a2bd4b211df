// `ctl pause`: maintenance mode (no automatic failover) via POST /pause; `--wait` until every
// member reports it in /status. `ctl resume` (resume.ts) is the same with pause off.
import { expectOk, fetchStatuses, leaderOf, readCluster, sendToFirst, waitUntil, type CtlContext } from '../context.js';
import type { CommandRegistrar } from '../command.js';
import { forceOption } from '../confirm.js';

export interface PauseOptions {
  readonly wait: boolean;
  /** Seconds. */
  readonly timeout: number;
}

export const pauseCommand: CommandRegistrar = (y, runner) => y.command(
  'pause',
  'maintenance mode: no automatic failover until resume',
  (b) => pauseFlags(b),
  (argv) => runner.run(argv, (ctx) => runPauseResume(ctx, true, { wait: argv.wait, timeout: argv.timeout })),
);

export function pauseFlags<T>(b: import('yargs').Argv<T>) {
  return b
    .option('wait', { type: 'boolean', default: false, describe: 'wait until every member reports the change' })
    .option('timeout', { type: 'number', default: 30, describe: 'seconds to wait with --wait' })
    .option('force', forceOption);
}

export async function runPauseResume(ctx: CtlContext, pause: boolean, o: PauseOptions): Promise<void> {
  const path = pause ? '/pause' : '/resume';
  const read = await readCluster(ctx);
  const leader = leaderOf(read);
  const order = [...(leader ? [leader] : []), ...read.view.members.filter((m) => m !== leader)];
  const { member, res } = await sendToFirst(ctx, order, 'POST', path, { timeoutMs: 15_000 });
  ctx.io.stdout.write(`${expectOk(res, `POST ${path} to ${member.name}`)}\n`);
  if (!o.wait) return;
  ctx.io.stdout.write(`Waiting for every member to report pause: ${pause} …\n`);
  await waitUntil(ctx, `every member to report pause: ${pause}`, o.timeout * 1000, async () => {
    const now = await readCluster(ctx);
    const statuses = await fetchStatuses(ctx, now.view.members);
    const pending = now.view.members.filter((m) => statuses.get(m.name)?.pause !== pause).map((m) => m.name);
    if (pending.length > 0) throw new Error(`not yet: ${pending.join(', ')}`);
    return now.view.members.length;
  }, 500);
  ctx.io.stdout.write(`Every member reports pause: ${pause}\n`);
}
