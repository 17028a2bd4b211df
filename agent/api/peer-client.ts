// Asking a peer agent for its status during a leader race (rule 4). One GET with a hard deadline,
// our restapi TLS material when the peers serve https, no retries (like Patroni's fetch_node_status): a slow peer must not stall the race.
import type { SecureContextOptions } from 'node:tls';
import { systemClock, type Clock } from '../clock.js';
import { parseLsn } from '../core/lsn.js';
import { httpRequestJson, joinUrl } from '../http/request.js';
import { NO_TAGS, type Lsn, type PeerStatus, type Tags } from '../core/types.js';

/** TLS material for asking peers: the CA that signed their certificates, and our own client pair. */
export type PeerTls = Pick<SecureContextOptions, 'ca' | 'cert' | 'key'>;

/** GET <apiUrl>/status → the parsed body (any status code). */
export type PeerStatusGet = (apiUrl: string, timeoutMs: number) => Promise<unknown>;

/**
 * A GET <apiUrl>/status with `tls()` for https peers (read at each call, so a reloaded
 * certificate is used at once). Resolves with the parsed JSON body whatever the status code (a
 * peer that answers is reachable; `toPeerStatus` judges the body). Rejects on timeout,
 * connection or TLS failure, or a body that is not a JSON document.
 */
export function peerStatusGetter(tls: () => PeerTls | undefined = () => undefined, clock: Clock = systemClock): PeerStatusGet {
  return async (apiUrl, timeoutMs) => {
    const url = joinUrl(apiUrl, '/status');
    const peerTls = tls();
    const res = await httpRequestJson(url, { method: 'GET', timeoutMs, clock, ...(peerTls ? { tls: peerTls } : {}) });
    if (res.body === null || typeof res.body !== 'object') {
      throw new Error(`peer ${url.href} answered ${res.status} with a body that is not a JSON document`);
    }
    return res.body;
  };
}

/** Plain-HTTP peers (and https peers with publicly trusted certificates). */
export const fetchPeerStatus: PeerStatusGet = peerStatusGetter();

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asLsn(v: unknown): Lsn | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v === 'string') {
    try { return parseLsn(v); } catch { return null; }
  }
  return null;
}

function asBool(v: unknown, fallback: boolean): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  return fallback;
}

function asTags(v: unknown): Tags | null {
  if (!isRecord(v)) return null;
  const priority = v['failover_priority'];
  return {
    nofailover: asBool(v['nofailover'], NO_TAGS.nofailover),
    failoverPriority: typeof priority === 'number' && Number.isFinite(priority) ? priority : NO_TAGS.failoverPriority,
    noloadbalance: asBool(v['noloadbalance'], NO_TAGS.noloadbalance),
    nosync: asBool(v['nosync'], NO_TAGS.nosync),
  };
}

function asRole(v: unknown): PeerStatus['role'] {
  switch (v) {
    case 'primary':
    case 'master':
      return 'primary';
    case 'replica':
    case 'standby_leader':
      return 'replica';
    case 'uninitialized':
      return 'uninitialized';
    default:
      return null;
  }
}

/**
 * Interpret a peer's status document. The peer answered, so it is reachable; a body we cannot
 * read (not an object, unknown role) gives role null and nothing else, so the caller can tell
 * "alive but unknown" from a real answer.
 */
export function toPeerStatus(name: string, doc: unknown): PeerStatus {
  const role = isRecord(doc) ? asRole(doc['role']) : null;
  if (!isRecord(doc) || role === null) {
    return { name, reachable: true, role: null, running: false, timeline: null, walLsn: null, replayedLsn: null, tags: null };
  }
  const xlog = isRecord(doc['xlog']) ? doc['xlog'] : {};
  let walLsn: Lsn | null;
  let replayedLsn: Lsn | null = null;
  if (role === 'primary') {
    walLsn = asLsn(xlog['location']);
  } else {
    const received = asLsn(xlog['received_location']);
    replayedLsn = asLsn(xlog['replayed_location']);
    walLsn = received === null ? replayedLsn : replayedLsn === null ? received : Math.max(received, replayedLsn);
  }
  const timeline = doc['timeline'];
  return {
    name,
    reachable: true,
    role,
    running: doc['state'] === 'running',
    timeline: typeof timeline === 'number' && Number.isSafeInteger(timeline) ? timeline : null,
    walLsn,
    replayedLsn,
    tags: asTags(doc['tags']),
  };
}
