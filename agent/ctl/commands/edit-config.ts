// `ctl edit-config`: change the dynamic config. Either `--set key=value` / `--pg name=value`
// (repeatable) or $EDITOR on its YAML; then a diff, validation with the agents' own rules, a
// confirmation (unless --force), and PATCH /config (a merge patch, with If-Match on the revision
// that was read) to the leader or any member, which writes it with a compare-and-swap.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { mergeDynamicPatch } from '../../config/dynamic.js';
import { isPlainObject } from '../../config/paths.js';
import { redactConfig } from '../../config/redact.js';
import type { DynamicConfig } from '../../config/types.js';
import { confirm } from '../confirm.js';
import { configYaml, lineDiff, mergePatchBetween, parseSets, sameJson } from '../config-edit.js';
import { expectOk, leaderOf, readCluster, sendToFirst, type CtlContext } from '../context.js';
import { messageOf } from '../http.js';
import { CtlFailure, CtlUsageError } from '../io.js';
import type { CommandRegistrar } from '../command.js';

export interface EditConfigOptions {
  readonly set: readonly string[];
  readonly pg: readonly string[];
  readonly pretend: boolean;
  readonly force: boolean;
  readonly quiet: boolean;
}

export const editConfigCommand: CommandRegistrar = (y, runner) => y.command(
  'edit-config',
  'change the dynamic config (--set key=value, or $EDITOR), shown as a diff, validated, written with a CAS',
  (b) => b
    .option('set', { alias: 's', type: 'string', array: true, default: [] as string[], describe: 'key=value (dotted key; YAML value; null resets to the default); repeatable' })
    .option('pg', { alias: 'p', type: 'string', array: true, default: [] as string[], describe: 'PostgreSQL parameter name=value; repeatable' })
    .option('pretend', { type: 'boolean', default: false, describe: 'show the diff, write nothing' })
    .option('force', { type: 'boolean', default: false, describe: 'do not ask for confirmation' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'do not print the diff' }),
  (argv) => runner.run(argv, (ctx) => runEditConfig(ctx, {
    set: argv.set, pg: argv.pg, pretend: argv.pretend, force: argv.force, quiet: argv.quiet,
  })),
);

/** What the edit amounts to: the merge patch, the config it makes, and the diff people see. */
export interface PlannedEdit {
  readonly patch: Record<string, unknown>;
  readonly next: DynamicConfig;
  readonly diff: string;
  readonly changed: boolean;
}

/** Validate `patch` over `current` (throws CtlUsageError listing the problems) and diff it. */
export function planEdit(current: DynamicConfig, patch: Record<string, unknown>, revision: number): PlannedEdit {
  const merged = mergeDynamicPatch(current, patch, 'edit-config');
  if (!merged.ok) throw new CtlUsageError(`the change is not valid:\n  ${merged.errors.join('\n  ')}`);
  const diff = lineDiff(configYaml(redactConfig(current)), configYaml(redactConfig(merged.config)), [`etcd config (revision ${revision})`, 'edited']);
  return { patch, next: merged.config, diff, changed: !sameJson(current, merged.config) };
}

export async function runEditConfig(ctx: CtlContext, o: EditConfigOptions): Promise<number> {
  const { io } = ctx;
  const read = await readCluster(ctx);
  if (read.config === null) {
    throw new CtlFailure(`cluster ${ctx.scope} has no valid config in etcd to edit (not bootstrapped yet, or a malformed value)`);
  }
  const current = read.config;
  let patch: Record<string, unknown>;
  if (o.set.length > 0 || o.pg.length > 0) {
    patch = parseSets(o.set, o.pg);
  } else {
    if (!io.interactive) throw new CtlUsageError('edit-config without --set/--pg opens an editor, but stdin is not a terminal');
    patch = await editInEditor(ctx, current);
  }
  const plan = planEdit(current, patch, read.configRevision);
  if (!plan.changed) {
    io.stdout.write('Not changed: the config already says that.\n');
    return 0;
  }
  if (!o.quiet) io.stdout.write(plan.diff || '(only redacted values change)\n');
  if (o.pretend) {
    io.stdout.write('--pretend: nothing written.\n');
    return 0;
  }
  await confirm(io, 'Apply these changes?', { force: o.force });

  const leader = leaderOf(read);
  const order = [...(leader ? [leader] : []), ...read.view.members.filter((m) => m !== leader)];
  const { member, res } = await sendToFirst(ctx, order, 'PATCH', '/config', {
    body: plan.patch, headers: { 'if-match': `"${read.configRevision}"` }, timeoutMs: 15_000,
  });
  if (res.status === 409) throw new CtlFailure(`${messageOf(res)}; nothing was written — run edit-config again`);
  if (res.status === 400) throw new CtlUsageError(`${member.name} refused the change: ${messageOf(res)}`);
  expectOk(res, `PATCH /config on ${member.name}`);
  io.stdout.write(`Configuration changed (written through ${member.name}).\n`);
  return 0;
}

/** YAML of the config (secrets redacted) in $EDITOR; the merge patch of what the user changed. */
async function editInEditor(ctx: CtlContext, current: DynamicConfig): Promise<Record<string, unknown>> {
  const shown = redactConfig(current);
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-edit-'));
  const file = join(dir, `${ctx.scope}-config.yaml`);
  try {
    writeFileSync(file, `# Dynamic config of cluster ${ctx.scope}. Save and quit to apply; delete a key to reset it.\n${configYaml(shown)}`, { mode: 0o600 });
    const code = await ctx.io.edit(file);
    if (code !== 0) throw new CtlFailure(`the editor exited with code ${code}; nothing changed`);
    let edited: unknown;
    try {
      edited = parseYaml(readFileSync(file, 'utf8')) as unknown;
    } catch (err) {
      throw new CtlUsageError(`the edited file is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!isPlainObject(edited)) throw new CtlUsageError('the edited file must hold a mapping of config keys');
    return mergePatchBetween(shown, edited);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
