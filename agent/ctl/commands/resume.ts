// `ctl resume`: leave maintenance mode (POST /resume); `--wait` until every member reports it.
import { pauseFlags, runPauseResume } from './pause.js';
import type { CommandRegistrar } from '../command.js';

export const resumeCommand: CommandRegistrar = (y, runner) => y.command(
  'resume',
  'leave maintenance mode: automatic failover on again',
  (b) => pauseFlags(b),
  (argv) => runner.run(argv, (ctx) => runPauseResume(ctx, false, { wait: argv.wait, timeout: argv.timeout })),
);
