// Member keys (etcd `members/<name>`, as agents publish them) → HAProxy servers. PURE.
// Clients go to the member's PostgreSQL address (`host`, `port`); HAProxy's health check goes to
// the host and port of its REST API (`api_url`).
import type { MemberRecord } from '../agent/core/types.js';
import type { HaproxyMember } from './render.js';

export interface MappedMembers {
  readonly members: readonly HaproxyMember[];
  /** Members left out, and why (logged as warnings). */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  /** Members whose API is https (their checks use TLS: `check-ssl`). */
  readonly https: readonly string[];
}

/** Host and port of an agent's api_url ("http://10.0.0.1:8008/"); default ports 80 / 443. */
export function apiAddress(apiUrl: string): { host: string; port: number; https: boolean } | null {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    return null;
  }
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') return null;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return null;
  return { host, port: url.port === '' ? (https ? 443 : 80) : Number(url.port), https };
}

/** Every member with a usable API address, in name order (stable output for unchanged membership). */
export function haproxyMembers(records: readonly MemberRecord[]): MappedMembers {
  const members: HaproxyMember[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const https: string[] = [];
  const sorted = [...records].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const m of sorted) {
    const api = apiAddress(m.apiUrl);
    if (api === null) {
      skipped.push({ name: m.name, reason: `api_url ${JSON.stringify(m.apiUrl)} is not an http(s) URL` });
      continue;
    }
    if (api.https) https.push(m.name);
    members.push({ name: m.name, host: m.host, port: m.port, apiHost: api.host, apiPort: api.port, ...(api.https ? { apiTls: true } : {}) });
  }
  return { members, skipped, https };
}
