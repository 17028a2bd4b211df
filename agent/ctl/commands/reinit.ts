// `ctl reinit <member>`: rebuild a replica from a fresh base backup of the leader (POST
// /reinitialize to that member), showing its state while it works, until it runs as a replica.
import { confirm } from '../confirm.js';
import { fetchStatus, findMember, readCluster, sendTo, type CtlContext } from '../context.js';
import type { ApiResponse } from '../http.js';
import { messageOf } from '../http.js';
import { CtlFailure } from '../io.js';
import type { CommandRegistrar } from '../command.js';

export interface ReinitOptions {
  readonly member: string;
  readonly force: boolean;
  /** Seconds for the whole rebuild. */
  readonly timeout: number;
}

export const reinitCommand: CommandRegistrar = (y, runner) => y.command(
  'reinit <member>',
  'rebuild a replica from a fresh base backup of the leader (its data directory is replaced)',
  (b) => b
    .positional('member', { type: 'string', demandOption: true, describe: 'the replica to rebuild' })
    .option('force', { type: 'boolean', default: false, describe: 'do not ask for confirmation' })
    .option('timeout', { type: 'number', default: 600, describe: 'seconds allowed for the rebuild' }),
  (argv) => runner.run(argv, (ctx) => runReinit(ctx, { member: argv.member, force: argv.force, timeout: argv.timeout })),
);

export async function runReinit(ctx: CtlContext, o: ReinitOptions): Promise<number> {
  const { io } = ctx;
  const read = await readCluster(ctx);
  const m = findMember(read, o.member);
  if (read.view.leader === m.name) throw new CtlFailure(`${m.name} is the leader; switch over first (\`pgwarden ctl switchover\`)`);
  if (read.view.leader === null) throw new CtlFailure(`cluster ${ctx.scope} has no leader to rebuild ${m.name} from`);
  await confirm(io, `Rebuild ${m.name} from ${read.view.leader}? Its data directory is replaced by a fresh base backup.`, { force: o.force });

  const started = io.now();
  const deadline = started + o.timeout * 1000;
  const stamp = () => `[${Math.round((io.now() - started) / 1000)}s]`;
  io.stdout.write(`${stamp()} ${m.name}: reinitialize requested\n`);

  let answer: ApiResponse | Error | null = null;
  const request = sendTo(ctx, m, 'POST', '/reinitialize', { timeoutMs: o.timeout * 1000 }).then(
    (res) => { answer = res; },
    (err: unknown) => { answer = err instanceof Error ? err : new Error(String(err)); },
  );
  let lastShown = '';
  let sawWork = false;
  const show = async (): Promise<{ role?: string | undefined; state?: string | undefined } | null> => {
    const st = await fetchStatus(ctx, m, 1500);
    const text = st ? `${st.state ?? '?'} (${st.role ?? '?'})` : 'not answering';
    if (st && st.state !== 'running') sawWork = true;
    if (text !== lastShown) {
      io.stdout.write(`${stamp()} ${m.name}: ${text}\n`);
      lastShown = text;
    }
    return st;
  };

  // While the request runs: show the member's state once a second.
  while (answer === null) {
    if (io.now() > deadline) throw new CtlFailure(`${m.name}: no answer to POST /reinitialize within ${o.timeout} s`);
    await Promise.race([request, io.sleep(1000)]);
    if (answer === null) await show();
  }
  const res = answer as ApiResponse | Error;
  if (res instanceof Error) throw res;
  const stillRunning = res.status === 202 || (res.status === 503 && (res.body as { code?: string } | null)?.code === 'TIMEOUT');
  if (!stillRunning && (res.status < 200 || res.status >= 300)) {
    throw new CtlFailure(`reinitialize of ${m.name} failed (HTTP ${res.status}): ${messageOf(res)}`);
  }
  io.stdout.write(`${stamp()} ${m.name}: ${messageOf(res)}\n`);

  // Then until it runs as a replica (for an accepted-but-running rebuild, after it started working).
  const workDeadline = Math.min(deadline, io.now() + 30_000);
  for (;;) {
    const st = await show();
    const done = st?.state === 'running' && st.role === 'replica';
    if (done && (sawWork || !stillRunning || io.now() > workDeadline)) break;
    if (io.now() > deadline) throw new CtlFailure(`${m.name} is not a running replica after ${o.timeout} s (last: ${lastShown})`);
    await io.sleep(1000);
  }
  io.stdout.write(`${stamp()} ${m.name}: rebuilt, running as a replica\n`);
  return 0;
}
