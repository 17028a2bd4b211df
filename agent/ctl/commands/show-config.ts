// `ctl show-config`: the dynamic config in etcd, as YAML (secret-named values redacted).
import { redactConfig } from '../../config/redact.js';
import { readCluster, type CtlContext } from '../context.js';
import { configYaml } from '../config-edit.js';
import { CtlFailure } from '../io.js';
import type { CommandRegistrar } from '../command.js';

export const showConfigCommand: CommandRegistrar = (y, runner) => y.command(
  'show-config',
  'print the dynamic config stored in etcd (secrets redacted)',
  (b) => b.option('json', { type: 'boolean', default: false, describe: 'print JSON instead of YAML' }),
  (argv) => runner.run(argv, (ctx) => runShowConfig(ctx, argv.json)),
);

export async function runShowConfig(ctx: CtlContext, json: boolean): Promise<void> {
  const read = await readCluster(ctx);
  if (read.config === null) {
    throw new CtlFailure(`cluster ${ctx.scope} has no valid config in etcd (not bootstrapped yet, or a malformed value: see the warning above)`);
  }
  const shown = redactConfig(read.config);
  ctx.io.stdout.write(json ? `${JSON.stringify(shown, null, 2)}\n` : configYaml(shown));
}
