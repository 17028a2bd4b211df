// `ctl history`: the timeline switches recorded in etcd `history`.
import { readCluster, type CtlContext } from '../context.js';
import { historyEntries, renderHistory } from '../render.js';
import type { CommandRegistrar } from '../command.js';

export const historyCommand: CommandRegistrar = (y, runner) => y.command(
  'history',
  'timeline history: timeline, switch LSN, reason, time, new leader',
  (b) => b.option('json', { type: 'boolean', default: false, describe: 'print JSON rows' }),
  (argv) => runner.run(argv, (ctx) => runHistory(ctx, argv.json)),
);

export async function runHistory(ctx: CtlContext, json: boolean): Promise<void> {
  const entries = historyEntries(await readCluster(ctx));
  ctx.io.stdout.write(json ? `${JSON.stringify(entries, null, 2)}\n` : renderHistory(entries));
}
