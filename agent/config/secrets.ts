// Secrets may be given inline (`password`), in a file (`password_file`) or in an environment
// variable named by `password_env` — exactly one of them. After resolution only the plain
// `password` / `token` remains. The secret values themselves never appear in a message.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeValue } from './errors.js';
import { getIn, isPlainObject } from './paths.js';

/** Every place a secret can be given. */
export const SECRET_SLOTS: ReadonlyArray<{ at: readonly string[]; base: 'password' | 'token' }> = [
  { at: ['etcd'], base: 'password' },
  { at: ['restapi', 'auth'], base: 'password' },
  { at: ['restapi', 'auth'], base: 'token' },
  { at: ['postgresql', 'superuser'], base: 'password' },
  { at: ['postgresql', 'replication'], base: 'password' },
];

export type Report = (path: string[], message: string, allowed?: string) => void;

export interface SecretContext {
  env: NodeJS.ProcessEnv;
  /** Relative password_file paths are resolved against this (the config file's directory). */
  baseDir: string;
}

// Stands in for a secret that could not be resolved, so checks that only need to know a secret
// was given (e.g. "username needs a password") do not report a second, misleading problem.
// The load fails anyway because the resolution problem was reported.
const UNRESOLVED = '[unresolved]';

/** Resolves every secret source in `raw` in place; problems go to `report`. */
export function resolveSecrets(raw: Record<string, unknown>, ctx: SecretContext, report: Report): void {
  for (const { at, base } of SECRET_SLOTS) {
    const obj = getIn(raw, at);
    if (!isPlainObject(obj)) continue; // absent, or a type error the schema reports
    resolveSlot(obj, [...at], base, ctx, report);
  }
}

function resolveSlot(obj: Record<string, unknown>, at: string[], base: string, ctx: SecretContext, report: Report): void {
  const fileKey = `${base}_file`;
  const envKey = `${base}_env`;
  const given = [base, fileKey, envKey].filter((k) => obj[k] !== undefined);
  if (given.length > 1) {
    report([...at, base], `give only one of ${base}, ${fileKey}, ${envKey} (got ${given.join(' and ')})`, `one of ${base}, ${fileKey}, ${envKey}`);
    for (const k of given) delete obj[k];
    obj[base] = UNRESOLVED;
    return;
  }
  if (given[0] === fileKey) {
    obj[base] = readSecretFile(obj[fileKey], [...at, fileKey], ctx, report) ?? UNRESOLVED;
  } else if (given[0] === envKey) {
    obj[base] = readSecretEnv(obj[envKey], [...at, envKey], ctx, report) ?? UNRESOLVED;
  }
  delete obj[fileKey];
  delete obj[envKey];
  if (obj[base] === undefined) delete obj[base];
}

function readSecretFile(value: unknown, path: string[], ctx: SecretContext, report: Report): string | undefined {
  if (typeof value !== 'string' || value === '') {
    report(path, `must be a path to a file holding the secret (got ${describeValue(value)})`);
    return undefined;
  }
  const file = resolve(ctx.baseDir, value);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    report(path, `cannot read ${JSON.stringify(file)}: ${why}`);
    return undefined;
  }
  // Files written with `echo` end in a newline that is not part of the secret.
  const secret = text.replace(/[\r\n]+$/, '');
  if (secret === '') {
    report(path, `file ${JSON.stringify(file)} is empty`);
    return undefined;
  }
  return secret;
}

function readSecretEnv(value: unknown, path: string[], ctx: SecretContext, report: Report): string | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    report(path, `must be the name of an environment variable (got ${describeValue(value)})`);
    return undefined;
  }
  const secret = ctx.env[value];
  if (secret === undefined || secret === '') {
    report(path, `environment variable ${value} is not set`);
    return undefined;
  }
  return secret;
}
