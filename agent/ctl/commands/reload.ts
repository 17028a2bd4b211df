// `ctl reload [member…]`: POST /reload to each member: re-read the local config, reload PostgreSQL's.
import type { MemberRecord } from '../../core/types.js';
import { findMember, readCluster, sendTo, type CtlContext } from '../context.js';
import { messageOf } from '../http.js';
import { CtlFailure } from '../io.js';
import type { CommandRegistrar } from '../command.js';
import { forceOption } from '../confirm.js';

export const reloadCommand: CommandRegistrar = (y, runner) => y.command(
  'reload [members..]',
  'make members re-read their config file and reload PostgreSQL\'s configuration',
  (b) => b.positional('members', { type: 'string', array: true, describe: 'members (default: all)' })
    .option('force', forceOption),
  (argv) => runner.run(argv, (ctx) => runReload(ctx, argv.members ?? [])),
);

export async function runReload(ctx: CtlContext, names: readonly string[]): Promise<number> {
  const read = await readCluster(ctx);
  const targets: MemberRecord[] = names.length > 0 ? names.map((n) => findMember(read, n)) : [...read.view.members];
  const failed: string[] = [];
  for (const m of targets) {
    try {
      const res = await sendTo(ctx, m, 'POST', '/reload', { timeoutMs: 15_000 });
      const ok = res.status >= 200 && res.status < 300;
      (ok ? ctx.io.stdout : ctx.io.stderr).write(`${m.name}: ${messageOf(res)}${ok ? '' : ` (HTTP ${res.status})`}\n`);
      if (!ok) failed.push(m.name);
    } catch (err) {
      if (!(err instanceof CtlFailure)) throw err;
      ctx.io.stderr.write(`${err.message}\n`);
      failed.push(m.name);
    }
  }
  if (failed.length > 0) throw new CtlFailure(`reload failed on ${failed.join(', ')}`);
  return 0;
}
