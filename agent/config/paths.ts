// Small helpers for walking plain JSON-like objects by key path.

export type PathSegment = string | number;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** ["etcd", "hosts", 0] → "etcd.hosts[0]". */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);

/** "bootstrap.dcs.ttl" → ["bootstrap", "dcs", "ttl"]; null when malformed. */
export function parseDottedKey(key: string): string[] | null {
  const parts = key.split('.');
  if (parts.some((p) => p === '' || FORBIDDEN.has(p))) return null;
  return parts;
}

export function getIn(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isPlainObject(cur) && typeof seg === 'string' && Object.hasOwn(cur, seg)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

/** Sets a value, creating (or replacing non-object) intermediate mappings. */
export function setIn(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = root;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (isPlainObject(next)) {
      cur = next;
    } else {
      const fresh: Record<string, unknown> = {};
      cur[seg] = fresh;
      cur = fresh;
    }
  }
  cur[path[path.length - 1]!] = value;
}
