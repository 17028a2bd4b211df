// Wire formats of the values under the cluster prefix (SPEC §2): JSON, snake_case, Patroni-like.
// Every decoder validates the shape and returns a reason instead of throwing, so a bad value in
// etcd is logged and treated as absent, never a crash.
import { parseLsn } from '../core/lsn.js';
import {
  NO_TAGS,
  type FailoverRequest, type HistoryRow, type InitializeState, type LeaderStatus, type Lsn,
  type MemberRecord, type PgRole, type PgState, type SyncState, type Tags,
} from '../core/types.js';

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });
const bad = <T>(reason: string): Decoded<T> => ({ ok: false, reason });

/** Thrown inside a decoder, caught at its edge: keeps the field checks short. */
class ShapeError extends Error {}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (e) {
    throw new ShapeError(`not JSON (${(e as Error).message})`);
  }
}

function decodeWith<T>(raw: string, fn: (raw: string) => T): Decoded<T> {
  try {
    return ok(fn(raw));
  } catch (e) {
    if (e instanceof ShapeError) return bad(e.message);
    return bad(`unexpected decoder error: ${String(e)}`);
  }
}

type Obj = Record<string, unknown>;

function object(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ShapeError(`${what} must be a JSON object`);
  return v as Obj;
}

function str(o: Obj, field: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v.length === 0) throw new ShapeError(`${field} must be a non-empty string`);
  return v;
}

function optStr(o: Obj, field: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new ShapeError(`${field} must be a non-empty string when present`);
  return v;
}

function int(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ShapeError(`${field} must be an integer between ${min} and ${max}`);
  }
  return v;
}

function bool(v: unknown, field: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ShapeError(`${field} must be true or false`);
  return v;
}

/** An LSN on the wire: a byte position (integer). PostgreSQL's "16/B374D848" text is accepted too. */
function lsn(v: unknown, field: string): Lsn {
  if (typeof v === 'string') {
    try {
      return parseLsn(v);
    } catch {
      throw new ShapeError(`${field} must be an LSN (integer or "X/Y")`);
    }
  }
  return int(v, field, 0);
}

function optLsn(o: Obj, field: string): Lsn | null {
  const v = o[field];
  return v === undefined || v === null ? null : lsn(v, field);
}

// ---------------------------------------------------------------------------------------------
// leader, initialize

/** `leader` holds a member name. */
export function decodeLeader(raw: string): Decoded<string> {
  return decodeWith(raw, (r) => {
    if (r.length === 0 || r.includes('/') || r.trim() !== r) throw new ShapeError('must be a member name');
    return r;
  });
}

/** `initialize`: "" while bootstrapping, then PostgreSQL's (decimal) system identifier. */
export function decodeInitialize(raw: string): Decoded<InitializeState> {
  if (raw === '') return ok({ state: 'bootstrapping' });
  if (/^[0-9]{1,20}$/.test(raw)) return ok({ state: 'done', systemId: raw });
  return bad('must be "" or a decimal system identifier');
}

export function encodeInitialize(systemId: string): string {
  if (!/^[0-9]{1,20}$/.test(systemId)) throw new Error(`not a PostgreSQL system identifier: ${JSON.stringify(systemId)}`);
  return systemId;
}

// ---------------------------------------------------------------------------------------------
// members/<name>

const ROLES: readonly PgRole[] = ['primary', 'replica', 'uninitialized'];
const STATES: readonly PgState[] = ['running', 'starting', 'stopped', 'crashed', 'creating replica', 'rewinding'];

function oneOf<T extends string>(o: Obj, field: string, allowed: readonly T[]): T {
  const v = o[field];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ShapeError(`${field} must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

function tags(v: unknown): Tags {
  if (v === undefined || v === null) return NO_TAGS;
  const t = object(v, 'tags');
  return {
    nofailover: bool(t['nofailover'], 'tags.nofailover', NO_TAGS.nofailover),
    failoverPriority: t['failover_priority'] === undefined
      ? NO_TAGS.failoverPriority
      : int(t['failover_priority'], 'tags.failover_priority', 0),
    noloadbalance: bool(t['noloadbalance'], 'tags.noloadbalance', NO_TAGS.noloadbalance),
    nosync: bool(t['nosync'], 'tags.nosync', NO_TAGS.nosync),
  };
}

/** `members/<name>`; the name comes from the key. Unknown fields are ignored. */
export function decodeMember(name: string, raw: string): Decoded<MemberRecord> {
  return decodeWith(raw, (r) => {
    const o = object(parseJson(r), 'member');
    const version = o['version'];
    if (version !== undefined && typeof version !== 'string') throw new ShapeError('version must be a string');
    return {
      name,
      apiUrl: str(o, 'api_url'),
      connUrl: str(o, 'conn_url'),
      host: str(o, 'host'),
      port: int(o['port'], 'port', 1, 65535),
      role: oneOf(o, 'role', ROLES),
      state: oneOf(o, 'state', STATES),
      timeline: o['timeline'] === undefined || o['timeline'] === null ? null : int(o['timeline'], 'timeline', 1),
      walLsn: optLsn(o, 'xlog_location'),
      receivedLsn: optLsn(o, 'received_location'),
      replayedLsn: optLsn(o, 'replayed_location'),
      tags: tags(o['tags']),
      version: version ?? '',
    };
  });
}

export function encodeMember(m: MemberRecord): string {
  return JSON.stringify({
    api_url: m.apiUrl,
    conn_url: m.connUrl,
    host: m.host,
    port: m.port,
    role: m.role,
    state: m.state,
    timeline: m.timeline,
    xlog_location: m.walLsn,
    received_location: m.receivedLsn,
    replayed_location: m.replayedLsn,
    tags: {
      nofailover: m.tags.nofailover,
      failover_priority: m.tags.failoverPriority,
      noloadbalance: m.tags.noloadbalance,
      nosync: m.tags.nosync,
    },
    version: m.version,
  });
}

// ---------------------------------------------------------------------------------------------
// status

export function decodeStatus(raw: string): Decoded<LeaderStatus> {
  return decodeWith(raw, (r) => {
    const o = object(parseJson(r), 'status');
    const shutdown = o['shutdown'] === true;
    return { optime: lsn(o['optime'], 'optime'), timeline: int(o['timeline'], 'timeline', 1), ...(shutdown ? { shutdown } : {}) };
  });
}

export function encodeStatus(s: LeaderStatus): string {
  return JSON.stringify({ optime: s.optime, timeline: s.timeline, ...(s.shutdown ? { shutdown: true } : {}) });
}

// ---------------------------------------------------------------------------------------------
// failover

export function decodeFailover(raw: string): Decoded<FailoverRequest> {
  return decodeWith(raw, (r) => {
    const o = object(parseJson(r), 'failover');
    const leader = optStr(o, 'leader');
    const candidate = optStr(o, 'candidate');
    const scheduledAt = optStr(o, 'scheduled_at');
    if (leader === undefined && candidate === undefined) throw new ShapeError('needs a leader or a candidate');
    if (scheduledAt !== undefined && Number.isNaN(Date.parse(scheduledAt))) {
      throw new ShapeError('scheduled_at must be an ISO-8601 time');
    }
    return {
      ...(leader !== undefined ? { leader } : {}),
      ...(candidate !== undefined ? { candidate } : {}),
      ...(scheduledAt !== undefined ? { scheduledAt } : {}),
    };
  });
}

export function encodeFailover(f: FailoverRequest): string {
  return JSON.stringify({ leader: f.leader, candidate: f.candidate, scheduled_at: f.scheduledAt });
}

// ---------------------------------------------------------------------------------------------
// sync

export function decodeSync(raw: string): Decoded<SyncState> {
  return decodeWith(raw, (r) => {
    const o = object(parseJson(r), 'sync');
    const standbys = o['sync_standbys'];
    if (!Array.isArray(standbys) || !standbys.every((s) => typeof s === 'string' && s.length > 0)) {
      throw new ShapeError('sync_standbys must be an array of member names');
    }
    return { leader: str(o, 'leader'), syncStandbys: standbys as string[] };
  });
}

export function encodeSync(s: SyncState): string {
  return JSON.stringify({ leader: s.leader, sync_standbys: s.syncStandbys });
}

/** Same leader and the same set of standbys (order does not matter). */
export function sameSync(a: SyncState | null, b: SyncState | null): boolean {
  if (a === null || b === null) return a === b;
  const sa = [...new Set(a.syncStandbys)].sort();
  const sb = [...new Set(b.syncStandbys)].sort();
  return a.leader === b.leader && sa.length === sb.length && sa.every((s, i) => s === sb[i]);
}

// ---------------------------------------------------------------------------------------------
// history: [[timeline, lsn, reason, timestamp, new_leader], ...]

export function decodeHistory(raw: string): Decoded<HistoryRow[]> {
  return decodeWith(raw, (r) => {
    const rows = parseJson(r);
    if (!Array.isArray(rows)) throw new ShapeError('history must be a JSON array of rows');
    return rows.map((row: unknown, i) => {
      if (!Array.isArray(row) || row.length < 3 || row.length > 5) {
        throw new ShapeError(`row ${i} must be [timeline, lsn, reason, timestamp, new_leader]`);
      }
      const text = (v: unknown, field: string): string => {
        if (v === undefined || v === null) return '';
        if (typeof v !== 'string') throw new ShapeError(`row ${i}: ${field} must be a string`);
        return v;
      };
      return {
        timeline: int(row[0], `row ${i}: timeline`, 1),
        lsn: lsn(row[1], `row ${i}: lsn`),
        reason: text(row[2], 'reason'),
        timestamp: text(row[3], 'timestamp'),
        newLeader: text(row[4], 'new_leader'),
      };
    });
  });
}

export function encodeHistory(rows: readonly HistoryRow[]): string {
  return JSON.stringify(rows.map((h) => [h.timeline, h.lsn, h.reason, h.timestamp, h.newLeader]));
}
