// `ctl remove <cluster>`: delete every etcd key of the cluster (leader, members, config,
// history, initialize…). Irreversible: the operator types the cluster name, or passes it with
// --yes-i-am-sure in a script. Refused while members are still registered unless --force.
import { ask } from '../confirm.js';
import { readCluster, type CtlContext } from '../context.js';
import { CtlFailure, CtlUsageError } from '../io.js';
import type { CommandRegistrar } from '../command.js';

export interface RemoveOptions {
  readonly cluster: string;
  readonly yesIAmSure?: string | undefined;
  readonly force: boolean;
}

export const removeCommand: CommandRegistrar = (y, runner) => y.command(
  'remove <cluster>',
  'delete every etcd key of a cluster (stop its agents first)',
  (b) => b
    .positional('cluster', { type: 'string', demandOption: true, describe: 'the cluster (scope) to remove' })
    .option('yes-i-am-sure', { type: 'string', describe: 'confirm without a prompt: repeat the cluster name' })
    .option('force', { type: 'boolean', default: false, describe: 'remove even though members are still registered' }),
  (argv) => runner.run(argv, (ctx) => runRemove(ctx, {
    cluster: argv.cluster, yesIAmSure: argv['yes-i-am-sure'], force: argv.force,
  }), { scope: argv.cluster }),
);

export async function runRemove(ctx: CtlContext, o: RemoveOptions): Promise<number> {
  const { io } = ctx;
  if (o.yesIAmSure !== undefined && o.yesIAmSure !== o.cluster) {
    throw new CtlUsageError(`--yes-i-am-sure ${o.yesIAmSure} does not match the cluster name ${o.cluster}`);
  }
  if (o.yesIAmSure === undefined && !io.interactive) {
    throw new CtlUsageError(`removing cluster ${o.cluster} needs confirmation, but stdin is not a terminal; pass --yes-i-am-sure ${o.cluster}`);
  }
  const read = await readCluster(ctx);
  const registered = read.view.members.map((m) => m.name);
  if (registered.length > 0 && !o.force) {
    throw new CtlFailure(
      `members are still registered: ${registered.join(', ')}. Stop their agents first (their keys expire after ttl), ` +
      'or pass --force to remove the keys of a running cluster (its agents will re-create some of them)',
    );
  }
  if (o.yesIAmSure === undefined) {
    io.stdout.write(`This deletes all ${read.keyCount} keys of cluster ${o.cluster} from etcd: leader, members, config, history, initialize.\n`);
    const typed = await ask(io, `Type the cluster name (${o.cluster}) to confirm: `);
    if (typed !== o.cluster) throw new CtlFailure('aborted: the name did not match');
  }
  const deleted = await ctx.etcd.removeAll();
  io.stdout.write(`Removed cluster ${o.cluster}: ${deleted} keys deleted.\n`);
  return 0;
}
