// Layering: env vars and overrides are written over the file's values. Each written key remembers
// its origin so a later error can name the variable or flag instead of the file.
import { formatKeyPath, getIn, isPlainObject, setIn } from './paths.js';

/** Key path ("postgresql.port") → origin label ("env PGWARDEN_POSTGRESQL_PORT"). */
export type Origins = Map<string, string>;

const SECRET_SOURCE_RE = /^(password|token)(_file|_env)?$/;

export function setLayered(root: Record<string, unknown>, path: string[], value: unknown, origin: string, origins: Origins): void {
  setIn(root, path, value);
  origins.set(formatKeyPath(path), origin);
  // A higher layer's secret replaces the lower layer's, whichever form either used:
  // PGWARDEN_SUPERUSER_PASSWORD wins over a password_file in the file.
  const key = path[path.length - 1]!;
  const m = SECRET_SOURCE_RE.exec(key);
  if (!m) return;
  const parent = getIn(root, path.slice(0, -1));
  if (!isPlainObject(parent)) return;
  for (const other of [m[1]!, `${m[1]}_file`, `${m[1]}_env`]) {
    if (other !== key) delete parent[other];
  }
}

/** The origin of the value at keyPath: the nearest layered key at or above it. */
export function originOf(origins: Origins, keyPath: string): string | undefined {
  let best: string | undefined;
  let bestLen = -1;
  for (const [k, origin] of origins) {
    const covers = keyPath === k || keyPath.startsWith(`${k}.`) || keyPath.startsWith(`${k}[`);
    if (covers && k.length > bestLen) {
      best = origin;
      bestLen = k.length;
    }
  }
  return best;
}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/**
 * Env vars and flags arrive as strings; turn them into what the schema expects at that key.
 * A string that does not fit is passed through unchanged so validation reports it (with its origin).
 */
export function coerceString(raw: string, kind: string | undefined): unknown {
  const s = raw.trim();
  switch (kind) {
    case 'number':
      return NUMBER_RE.test(s) ? Number(s) : raw;
    case 'boolean':
      if (TRUE.has(s.toLowerCase())) return true;
      if (FALSE.has(s.toLowerCase())) return false;
      return raw;
    case 'array':
      return s === '' ? [] : s.split(',').map((x) => x.trim()).filter((x) => x !== '');
    default:
      return raw;
  }
}
