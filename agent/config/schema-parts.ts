// Building blocks shared by the static and dynamic schemas. Every leaf carries its rule as its
// error text ("a number of seconds ≥ 0.1"), so issues.ts can say "must be <rule> (got …)".
import { z } from 'zod';
import { GUC_NAME_RE, NAME_RE, isAbsolutePath, isHostPort } from './formats.js';
import { isPlainObject } from './paths.js';

// Cross-field checks run even when some fields failed on their own (zod skips them otherwise),
// so one run reports every problem. They therefore look at values defensively.
export const ALWAYS = { when: () => true };

// An absent section is validated as {} so the error names its required keys ("etcd.hosts"),
// not the section. (Typed `never` because {} lacks those required keys.)
export const ABSENT = {} as never;

export function number(rule: string, min: number) {
  return z.number({ error: rule }).min(min, { error: rule });
}

export function integer(rule: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.number({ error: rule }).int({ error: rule }).min(min, { error: rule }).max(max, { error: rule });
}

/** A string passing `ok`. `params.rule` tells issues.ts the message is a rule, not a sentence. */
export function matching(rule: string, ok: (s: string) => boolean) {
  return z.string({ error: rule }).refine(ok, { error: rule, params: { rule: true } });
}

export const bool = z.boolean({ error: 'true or false' });
export const nonEmpty = matching('a non-empty string', (s) => s.length > 0);
export const secret = nonEmpty; // a resolved password or token
export const secretSource = nonEmpty; // password_file (path) or password_env (variable name); resolved by secrets.ts
export const name = matching('a name of 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit', (s) => NAME_RE.test(s));
export const hostPort = matching('a host:port such as 10.0.0.1:2379 or [::1]:8008', isHostPort);
export const absolutePath = matching('an absolute path', isAbsolutePath);
export const port = integer('an integer port 1..65535', 1, 65535);
export const roleName = matching('a PostgreSQL role name of 1-63 characters', (s) => s.length > 0 && s.length <= 63);

/** Parameters pgwarden sets itself; setting them by hand would fight the agent. */
export const MANAGED_PARAMETERS: Readonly<Record<string, string>> = {
  port: 'set postgresql.port instead',
  listen_addresses: 'set postgresql.listen instead',
  data_directory: 'set postgresql.data_dir instead',
  hba_file: 'add lines to postgresql.pg_hba instead',
  primary_conninfo: 'pgwarden points replicas at the leader itself',
  primary_slot_name: 'pgwarden manages replication slots (use_slots)',
  synchronous_standby_names: 'pgwarden manages it (synchronous_mode)',
};

export const parameters = z
  .record(
    matching('a PostgreSQL parameter name like work_mem', (s) => GUC_NAME_RE.test(s)),
    z.union([z.string(), z.number(), z.boolean()], { error: 'a string, number or boolean' }),
    { error: 'a mapping of parameter names to values' },
  )
  .superRefine((v, ctx) => {
    if (!isPlainObject(v)) return;
    for (const key of Object.keys(v)) {
      const why = MANAGED_PARAMETERS[key];
      if (why) ctx.addIssue({ code: 'custom', path: [key], message: `is managed by pgwarden; ${why}` });
    }
  }, ALWAYS)
  .default(() => ({}));

export function pairRequired(v: unknown, ctx: z.RefinementCtx, a: string, b: string): void {
  if (!isPlainObject(v)) return;
  if (v[a] !== undefined && v[b] === undefined) ctx.addIssue({ code: 'custom', path: [b], message: `is required when ${a} is set` });
  if (v[b] !== undefined && v[a] === undefined) ctx.addIssue({ code: 'custom', path: [a], message: `is required when ${b} is set` });
}

