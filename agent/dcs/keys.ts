// Where the cluster's keys live in etcd (SPEC §2): `/<namespace>/<scope>/<key>`.

/** Keys directly under the cluster prefix, relative to it. */
export const KEY = {
  leader: 'leader',
  initialize: 'initialize',
  config: 'config',
  status: 'status',
  failover: 'failover',
  sync: 'sync',
  history: 'history',
} as const;

export const MEMBERS_DIR = 'members/';

/**
 * The cluster prefix with exactly one leading and one trailing slash and no empty segments:
 * ("/pgwarden", "demo") → "/pgwarden/demo/"; ("pgwarden//", "demo") → "/pgwarden/demo/";
 * ("", "demo") or ("/", "demo") → "/demo/".
 */
export function clusterPrefix(namespace: string, scope: string): string {
  checkSegment('scope', scope);
  const ns = namespace.split('/').filter((s) => s.length > 0);
  return `/${[...ns, scope].join('/')}/`;
}

/** A scope or member name must be one non-empty key segment. */
export function checkSegment(what: string, value: string): void {
  if (value.length === 0 || value.includes('/') || value.trim() !== value) {
    throw new Error(`${what} must be a non-empty name without "/" or surrounding spaces, got ${JSON.stringify(value)}`);
  }
}

/** Builds absolute keys for one cluster and maps absolute keys back to relative ones. */
export class ClusterKeys {
  readonly prefix: string;
  readonly prefixBuf: Buffer;
  /** First key after every key that starts with the prefix (etcd range_end for a prefix). */
  readonly rangeEnd: Buffer;

  constructor(namespace: string, scope: string) {
    this.prefix = clusterPrefix(namespace, scope);
    this.prefixBuf = Buffer.from(this.prefix);
    this.rangeEnd = prefixRangeEnd(this.prefixBuf);
  }

  /** Absolute key for a key relative to the prefix ("leader", "members/a"). */
  key(relative: string): Buffer {
    return Buffer.from(this.prefix + relative);
  }

  /** The key relative to the prefix, or null when it lies outside the prefix. */
  relative(absolute: Buffer): string | null {
    if (absolute.length < this.prefixBuf.length) return null;
    if (!absolute.subarray(0, this.prefixBuf.length).equals(this.prefixBuf)) return null;
    return absolute.subarray(this.prefixBuf.length).toString('utf8');
  }
}

/** etcd's range_end for "every key starting with prefix": the prefix with its last byte + 1. */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
