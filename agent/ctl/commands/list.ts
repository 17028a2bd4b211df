// `ctl list`: every member with host, role, state, timeline, lag, tags and pending restart.
import { EXIT } from '../io.js';
import { fetchStatuses, readCluster, type CtlContext } from '../context.js';
import { buildListing, renderListing, type ClusterListing } from '../render.js';
import type { CommandRegistrar } from '../command.js';

export interface ListOptions {
  readonly json: boolean;
  /** Refresh every N seconds (until Ctrl-C, or `count` refreshes). */
  readonly watch?: number | undefined;
  readonly count?: number | undefined;
}

export const listCommand: CommandRegistrar = (y, runner) => y.command(
  'list',
  'list the members: host, role, state, timeline, lag, tags, pending restart',
  (b) => b
    .option('json', { type: 'boolean', default: false, describe: 'print JSON (one document; one line per refresh with --watch)' })
    .option('watch', { alias: 'W', type: 'number', describe: 'refresh every N seconds until Ctrl-C' })
    .option('count', { type: 'number', describe: 'with --watch: stop after this many refreshes' })
    .check((a) => {
      if (a.watch !== undefined && !(a.watch > 0)) return '--watch takes a number of seconds > 0';
      if (a.count !== undefined && !(Number.isInteger(a.count) && a.count > 0)) return '--count takes a whole number > 0';
      return true;
    }),
  (argv) => runner.run(argv, (ctx) => runList(ctx, { json: argv.json, watch: argv.watch, count: argv.count })),
);

export async function listing(ctx: CtlContext): Promise<ClusterListing> {
  const read = await readCluster(ctx);
  return buildListing(read, await fetchStatuses(ctx, read.view.members));
}

export async function runList(ctx: CtlContext, o: ListOptions): Promise<number> {
  const { io } = ctx;
  for (let n = 1; ; n++) {
    const l = await listing(ctx);
    if (o.json) {
      io.stdout.write(o.watch !== undefined ? `${JSON.stringify(l)}\n` : `${JSON.stringify(l, null, 2)}\n`);
    } else {
      if (o.watch !== undefined && io.interactive) io.stdout.write('\x1b[2J\x1b[H');
      if (o.watch !== undefined) io.stdout.write(`${new Date(io.wallNow()).toISOString()}\n`);
      io.stdout.write(renderListing(l));
    }
    if (o.watch === undefined || (o.count !== undefined && n >= o.count) || io.interrupt?.aborted) return EXIT.ok;
    await io.sleep(o.watch * 1000, io.interrupt);
    if (io.interrupt?.aborted) return EXIT.ok;
  }
}
