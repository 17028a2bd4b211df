// String formats used by the schema: member names, host:port, addresses, paths.
import { isIP } from 'node:net';
import { posix } from 'node:path';

/** Member and cluster names: also used in etcd keys and as PostgreSQL application_name. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** etcd key prefix: "/pgwarden", "/prod/pg" (no trailing slash). */
export const NAMESPACE_RE = /^(\/[A-Za-z0-9._-]+)+$/;

/** PostgreSQL parameter (GUC) names, including extension ones like "pg_stat_statements.max". */
export const GUC_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

// RFC 1123 labels, plus "_" which container runtimes put in service names.
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

export function isHost(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME_RE.test(host);
}

export interface HostPort {
  host: string;
  port: number;
}

/** "10.0.0.1:2379", "db1.example.com:8008", "[::1]:5432" → {host, port}; null when malformed. */
export function parseHostPort(s: string): HostPort | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const host = m[1]!;
  const port = Number(m[2]);
  const bracketed = s.startsWith('[');
  if (bracketed ? isIP(host) !== 6 : !isHost(host)) return null;
  if (!isPort(port)) return null;
  return { host, port };
}

export function isHostPort(s: string): boolean {
  return parseHostPort(s) !== null;
}

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Formats host and port, bracketing IPv6. */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const WILDCARDS = new Set(['*', '0.0.0.0', '::']);

/** An address peers cannot be told to connect to. */
export function isWildcard(host: string): boolean {
  return WILDCARDS.has(host);
}

/** PostgreSQL listen_addresses: "*", one host, or a comma-separated list. */
export function isListenAddresses(s: string): boolean {
  const parts = s.split(',').map((p) => p.trim());
  return parts.length > 0 && parts.every((p) => p === '*' || isHost(p));
}

export function isAbsolutePath(s: string): boolean {
  return posix.isAbsolute(s);
}

/** "10.0.0.0/8", "192.168.1.7", "fd00::/8". */
export function isIpOrCidr(s: string): boolean {
  const [ip, bits, ...rest] = s.split('/');
  if (rest.length > 0 || ip === undefined) return false;
  const family = isIP(ip);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}
