// Dynamic config (etcd `config`): parse what was read, apply merge patches, convert for the core.
// Nothing here throws on bad input: the DCS adapter and the API turn errors into logs / 400s.
import type { HaSettings } from '../core/types.js';
import { formatProblem } from './errors.js';
import { issuesToProblems } from './issues.js';
import { isPlainObject } from './paths.js';
import { dynamicConfigSchema } from './dynamic-schema.js';
import type { DynamicConfig } from './types.js';

export type DynamicResult = { ok: true; config: DynamicConfig } | { ok: false; errors: string[] };

/**
 * Validates a dynamic config read from etcd (an object, or its JSON text / bytes). Missing keys
 * and keys set to null take their defaults (DEFAULT_DYNAMIC_CONFIG). `source` prefixes every
 * error line, e.g. "etcd /pgwarden/main/config".
 */
export function parseDynamicConfig(value: unknown, source: string): DynamicResult {
  try {
    const decoded = decode(value);
    if ('error' in decoded) return { ok: false, errors: [`${source}: ${decoded.error}`] };
    if (!isPlainObject(decoded.value)) {
      return { ok: false, errors: [`${source}: must be a JSON object (got ${typeName(decoded.value)})`] };
    }
    return validate(applyMergePatch({}, decoded.value), source);
  } catch (err) {
    // Defensive: hostile values (throwing getters, cycles) must not crash the agent.
    return { ok: false, errors: [`${source}: unreadable value (${(err as Error).message})`] };
  }
}

/**
 * JSON merge patch (RFC 7396) of `patch` over `current`, then validation. `null` deletes a key,
 * which puts it back to its default. Used by PATCH /config and `ctl edit-config`.
 */
export function mergeDynamicPatch(current: DynamicConfig, patch: unknown, source = 'patch'): DynamicResult {
  try {
    const decoded = decode(patch);
    if ('error' in decoded) return { ok: false, errors: [`${source}: ${decoded.error}`] };
    if (!isPlainObject(decoded.value)) return { ok: false, errors: [`${source}: must be a JSON object (got ${typeName(decoded.value)})`] };
    return validate(applyMergePatch(current, decoded.value), source);
  } catch (err) {
    return { ok: false, errors: [`${source}: unreadable value (${(err as Error).message})`] };
  }
}

/** RFC 7396: objects merge key by key, null deletes, anything else replaces. Inputs are not modified. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

/** The HA timing and behaviour settings the decision core uses: seconds → milliseconds. */
export function toHaSettings(cfg: DynamicConfig): HaSettings {
  return {
    ttlMs: ms(cfg.ttl),
    loopWaitMs: ms(cfg.loop_wait),
    retryTimeoutMs: ms(cfg.retry_timeout),
    maximumLagOnFailover: cfg.maximum_lag_on_failover,
    minFailoverIntervalMs: ms(cfg.min_failover_interval),
    primaryStartTimeoutMs: ms(cfg.primary_start_timeout),
    checkTimeline: cfg.check_timeline,
    usePgRewind: cfg.use_pg_rewind,
    rebuildOnRewindFailure: cfg.rebuild_on_rewind_failure,
    synchronousMode: cfg.synchronous_mode,
    synchronousModeStrict: cfg.synchronous_mode_strict,
  };
}

function ms(seconds: number): number {
  return Math.round(seconds * 1000);
}

function validate(value: unknown, source: string): DynamicResult {
  const result = dynamicConfigSchema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, config: result.data };
  const problems = issuesToProblems(result.error.issues, dynamicConfigSchema, () => ({ file: source }));
  return { ok: false, errors: problems.map(formatProblem) };
}

/** JSON text or bytes → parsed; other values → a plain JSON copy (no cycles, getters or class instances). */
function decode(value: unknown): { value: unknown } | { error: string } {
  let v = value;
  if (v instanceof Uint8Array) v = Buffer.from(v).toString('utf8');
  if (typeof v === 'string') {
    try {
      return { value: JSON.parse(v) as unknown };
    } catch (err) {
      return { error: `not valid JSON (${(err as Error).message})` };
    }
  }
  if (v === undefined) return { value: v };
  try {
    return { value: JSON.parse(JSON.stringify(v)) as unknown };
  } catch (err) {
    return { error: `not representable as JSON (${(err as Error).message.split('\n')[0]})` };
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? 'a string' : typeof v;
}
