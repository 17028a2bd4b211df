// Copies of configs that are safe to show (GET /config, logs, `ctl show-config`).
import { isSecretKey } from './errors.js';

export const REDACTED = '[redacted]';

/** Deep copy with every password / token (and other secret-named key) replaced by "[redacted]". */
export function redactConfig<T>(cfg: T): T {
  return redact(cfg) as T;
}

function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(v)) {
    out[key] = isSecretKey(key) && value !== undefined && value !== null ? REDACTED : redact(value);
  }
  return out;
}
