// `ctl topology`: the leader and, under it, the replicas streaming from it.
import { fetchStatuses, readCluster, type CtlContext } from '../context.js';
import { renderTopology } from '../render.js';
import type { CommandRegistrar } from '../command.js';

export const topologyCommand: CommandRegistrar = (y, runner) => y.command(
  'topology',
  'the replication tree: the leader and the replicas streaming from it',
  (b) => b,
  (argv) => runner.run(argv, (ctx) => runTopology(ctx)),
);

export async function runTopology(ctx: CtlContext): Promise<void> {
  const read = await readCluster(ctx);
  ctx.io.stdout.write(renderTopology(read, await fetchStatuses(ctx, read.view.members)));
}
