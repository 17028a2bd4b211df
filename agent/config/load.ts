// Static config loading. Precedence: file < PGWARDEN_* env < overrides (CLI flags). Secrets are
// resolved, then everything is validated at once; all problems are thrown together.
import { dirname, resolve } from 'node:path';
import { ENV_MAP, NON_CONFIG_ENV } from './env.js';
import { ConfigError, describeValue, type ConfigProblem } from './errors.js';
import { closest, issuesToProblems, type Locate } from './issues.js';
import { coerceString, originOf, setLayered, type Origins } from './layers.js';
import { formatKeyPath, parseDottedKey } from './paths.js';
import { staticConfigSchema } from './schema.js';
import { kindAt } from './schema-walk.js';
import { resolveSecrets } from './secrets.js';
import type { AgentConfig } from './types.js';
import { readYamlFile } from './yaml-file.js';

export interface LoadOptions {
  /** Path of pgwarden.yml; omit to build the config from env and overrides only. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Dotted key paths → values ("postgresql.port" → 5433 or "5433"); strings are coerced per schema. */
  overrides?: Record<string, unknown>;
}

export function loadAgentConfig(opts: LoadOptions = {}): AgentConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? null;
  const yaml = file !== null ? readYamlFile(file) : null; // throws on unreadable / bad YAML
  const raw: Record<string, unknown> = yaml ? yaml.value : {};
  const origins: Origins = new Map();
  const problems: ConfigProblem[] = [];

  const locate: Locate = (path) => {
    const origin = originOf(origins, formatKeyPath(path));
    if (origin !== undefined) return { file: null, origin };
    const line = yaml?.lineOf(path);
    return { file, ...(line !== undefined ? { line } : {}) };
  };

  applyEnv(raw, env, origins, problems);
  applyOverrides(raw, opts.overrides ?? {}, origins, problems);
  resolveSecrets(raw, { env, baseDir: file !== null ? dirname(resolve(file)) : process.cwd() }, (path, message, allowed) => {
    problems.push({ ...locate(path), keyPath: formatKeyPath(path), message, ...(allowed ? { allowed } : {}) });
  });

  const result = staticConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) problems.push(...issuesToProblems(result.error.issues, staticConfigSchema, locate));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return { config_file: file !== null ? resolve(file) : null, ...result.data };
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, origins: Origins, problems: ConfigProblem[]): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('PGWARDEN_') || value === undefined || NON_CONFIG_ENV.has(name)) continue;
    const key = ENV_MAP[name];
    if (key === undefined) {
      const guess = closest(name, Object.keys(ENV_MAP));
      problems.push({
        file: null,
        origin: `env ${name}`,
        keyPath: '',
        message: `unknown PGWARDEN_* variable${guess ? ` (did you mean ${guess}?)` : ''}`,
        allowed: Object.keys(ENV_MAP).join(', '),
      });
      continue;
    }
    const path = key.split('.');
    setLayered(raw, path, coerceString(value, kindAt(staticConfigSchema, path)), `env ${name}`, origins);
  }
}

function applyOverrides(raw: Record<string, unknown>, overrides: Record<string, unknown>, origins: Origins, problems: ConfigProblem[]): void {
  for (const [key, value] of Object.entries(overrides)) {
    const path = parseDottedKey(key);
    if (path === null) {
      problems.push({ file: null, origin: 'override', keyPath: key, message: `is not a valid key path (got ${describeValue(key)})` });
      continue;
    }
    const v = typeof value === 'string' ? coerceString(value, kindAt(staticConfigSchema, path)) : structuredClone(value);
    setLayered(raw, path, v, 'override', origins);
  }
}
