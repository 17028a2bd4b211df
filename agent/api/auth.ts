// Who may call the mutating endpoints (SPEC §1.2): an address allowlist, then credentials from
// `restapi.auth` (HTTP basic or a bearer token). Pure functions over request fields, so the route
// plugin stays small and the checks are tested on their own.
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

/** `restapi.auth` as the agent's config holds it (secrets already resolved). */
export interface ApiAuth {
  readonly username?: string;
  readonly password?: string;
  readonly token?: string;
}

export type AuthOutcome =
  | { readonly ok: true; readonly user: string }
  /** `missing`: no usable Authorization header; `bad`: credentials that do not match. */
  | { readonly ok: false; readonly reason: 'missing' | 'bad' };

/** Basic and/or Bearer challenges, one per configured method. */
export function authChallenges(auth: ApiAuth, realm = 'pgwarden'): string[] {
  const out: string[] = [];
  if (hasBasic(auth)) out.push(`Basic realm="${realm}", charset="UTF-8"`);
  if (hasToken(auth)) out.push(`Bearer realm="${realm}"`);
  return out;
}

/** At least one complete method is configured (username+password, or token). */
export function authConfigured(auth: ApiAuth | undefined): auth is ApiAuth {
  return auth !== undefined && (hasBasic(auth) || hasToken(auth));
}

function hasBasic(auth: ApiAuth): auth is ApiAuth & { username: string; password: string } {
  return typeof auth.username === 'string' && auth.username.length > 0 && typeof auth.password === 'string' && auth.password.length > 0;
}

function hasToken(auth: ApiAuth): auth is ApiAuth & { token: string } {
  return typeof auth.token === 'string' && auth.token.length > 0;
}

/**
 * Equal-length SHA-256 digests compared with timingSafeEqual: the time taken does not depend on
 * where (or whether) the strings differ, nor on the secret's length.
 */
export function constantTimeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Check an Authorization header against the configured credentials. */
export function checkAuthorization(header: string | undefined, auth: ApiAuth): AuthOutcome {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
  const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(header);
  if (!m) return { ok: false, reason: 'bad' };
  const scheme = m[1]!.toLowerCase();
  const credentials = m[2]!;
  if (scheme === 'basic') {
    if (!hasBasic(auth)) return { ok: false, reason: 'bad' };
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, reason: 'bad' };
    // Both halves are always compared: no early exit that would tell a right username apart.
    const userOk = constantTimeEqual(decoded.slice(0, colon), auth.username);
    const passOk = constantTimeEqual(decoded.slice(colon + 1), auth.password);
    return userOk && passOk ? { ok: true, user: auth.username } : { ok: false, reason: 'bad' };
  }
  if (scheme === 'bearer') {
    if (!hasToken(auth)) return { ok: false, reason: 'bad' };
    return constantTimeEqual(credentials, auth.token) ? { ok: true, user: '(token)' } : { ok: false, reason: 'bad' };
  }
  return { ok: false, reason: 'bad' };
}

/** `restapi.allowlist` entries (IPv4/IPv6 addresses and CIDRs) → a membership test. */
export function compileAllowlist(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [ip, bits, ...rest] = entry.trim().split('/');
    const family = ip === undefined ? 0 : isIP(ip);
    if (rest.length > 0 || family === 0) throw new Error(`allowlist entry ${JSON.stringify(entry)} is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(ip!, type);
    } else {
      const prefix = Number(bits);
      if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
        throw new Error(`allowlist entry ${JSON.stringify(entry)} has a bad prefix length`);
      }
      list.addSubnet(ip!, prefix, type);
    }
  }
  return (address) => {
    if (address === undefined) return false;
    const bare = address.replace(/%.*$/, ''); // drop an IPv6 zone id
    const family = isIP(bare);
    if (family === 4) return list.check(bare, 'ipv4');
    if (family !== 6) return false;
    if (list.check(bare, 'ipv6')) return true;
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
    return mapped !== null && list.check(mapped[1]!, 'ipv4');
  };
}
