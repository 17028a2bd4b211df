// Health-check answers (SPEC §1.1), computed from the HA loop's last snapshot and `now` alone.
// PURE: no I/O, no clock reads. Called on every HAProxy probe, so the common path allocates
// nothing (results are shared frozen objects) and never awaits.
import type { Tags } from '../core/types.js';
import type { NodeState } from '../runtime/node-state.js';

export const HEALTH_PATHS = [
  '/', '/primary', '/read-write', '/leader', '/replica', '/read-only',
  '/sync', '/async', '/health', '/liveness', '/readiness',
] as const;
export type HealthPath = (typeof HEALTH_PATHS)[number];
const HEALTH_PATH_SET: ReadonlySet<string> = new Set(HEALTH_PATHS);

/** A parsed query string: one value per key, or several when the key repeats. */
export type HealthQuery = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface HealthError {
  /** The query parameter at fault, as the client spelled it (`lag`, `tag_nosync`). */
  readonly parameter: string;
  readonly message: string;
}

export interface HealthResult {
  readonly status: number;
  readonly error?: HealthError;
}

const OK: HealthResult = Object.freeze({ status: 200 });
const UNAVAILABLE: HealthResult = Object.freeze({ status: 503 });
const NOT_FOUND: HealthResult = Object.freeze({ status: 404 });

/**
 * `?lag=` syntax: a byte count, optionally fractional, with an optional unit B, kB, MB, GB, TB
 * (1024-based like PostgreSQL's memory units; unit letters in any case). Shared with the route's
 * querystring schema so the schema and this module can never disagree.
 */
export const LAG_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?[bB])?\s*$/;
const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4,
};

/** Parse a `?lag=` value into bytes; null when it is not a valid size. */
export function parseLag(text: string): number | null {
  const m = LAG_PATTERN.exec(text);
  if (!m) return null;
  const bytes = Math.floor(Number(m[1]) * UNIT_BYTES[(m[2] ?? 'b').toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** The tag names a `?tag_NAME=` filter may use (snake_case, as in config and the status document). */
export function tagValue(tags: Tags, name: string): string | undefined {
  switch (name.toLowerCase()) {
    case 'nofailover': return String(tags.nofailover);
    case 'failover_priority': return String(tags.failoverPriority);
    case 'noloadbalance': return String(tags.noloadbalance);
    case 'nosync': return String(tags.nosync);
    default: return undefined;
  }
}

/** Rule 3: the leader key names us AND our lease deadline (rule 2) has not passed. */
export function holdsLeaderKey(state: NodeState, now: number): boolean {
  return state.cluster?.leader === state.name && state.leaseDeadline !== null && now < state.leaseDeadline;
}

export function runsAsPrimary(state: NodeState): boolean {
  return state.pg.process === 'running' && state.pg.role === 'primary';
}

/** The cached cluster view is recent enough to answer from (read within ttl of now). */
export function clusterViewValid(state: NodeState, now: number): boolean {
  return state.cluster !== null && state.clusterReadAt !== null && now - state.clusterReadAt <= state.settings.ttlMs;
}

/** Listed in the `sync` key while synchronous mode is on (a stale key from before is ignored). */
export function isSyncStandby(state: NodeState): boolean {
  const sync = state.cluster?.sync;
  return state.settings.synchronousMode && sync != null && sync.syncStandbys.includes(state.name);
}

/**
 * The `/replica` condition: PostgreSQL runs as a replica, not tagged noloadbalance, and, when
 * `maxLag` is given, replayed within maxLag bytes of the leader's published position. Without a
 * published position there is nothing to measure against and the replica is not lagging (Patroni).
 */
function replicaOk(state: NodeState, maxLag: number | null): boolean {
  const pg = state.pg;
  if (pg.process !== 'running' || pg.role !== 'replica' || state.tags.noloadbalance) return false;
  if (maxLag === null) return true;
  const optime = state.cluster?.status?.optime;
  return optime === undefined || optime - (pg.replayedLsn ?? 0) <= maxLag;
}

/** Every `?tag_K=V` matches (case-insensitively); an unknown tag K never matches. */
function tagsMatch(query: HealthQuery, tags: Tags): boolean {
  for (const key in query) {
    if (!key.startsWith('tag_')) continue;
    const want = query[key];
    const have = tagValue(tags, key.slice(4));
    if (typeof want !== 'string' || have === undefined || have !== want.toLowerCase()) return false;
  }
  return true;
}

/** What a valid value of `parameter` looks like, for 400 answers (shared with the route schema's errors). */
export function invalidParameterMessage(parameter: string, value?: string): string {
  const got = value === undefined ? '' : `; got ${JSON.stringify(value.slice(0, 64))}`;
  return parameter === 'lag'
    ? `lag must be a size in bytes, given once, optionally with a unit (1048576, 1024kB, 1MB, 1GB)${got}`
    : `${parameter} must be given once${got}`;
}

function invalid(parameter: string, value?: string): HealthResult {
  return { status: 400, error: { parameter, message: invalidParameterMessage(parameter, value) } };
}

/** Validate the query; returns the parsed lag (or null when absent), or an error result. */
function parseQuery(query: HealthQuery): number | null | HealthResult {
  let lag: number | null = null;
  for (const key in query) {
    const value = query[key];
    if (value === undefined) continue;
    if (key === 'lag') {
      if (typeof value !== 'string') return invalid('lag');
      lag = parseLag(value);
      if (lag === null) return invalid('lag', value);
    } else if (key.startsWith('tag_') && typeof value !== 'string') {
      return invalid(key);
    }
  }
  return lag;
}

/**
 * The status code of one health path (SPEC §1.1) for this snapshot at monotonic time `now`.
 * 404 for a path that is not a health path; 400 (with the parameter named) for a bad query.
 * Other query keys are ignored, as HAProxy configs sometimes add their own.
 */
export function healthCheck(path: string, query: HealthQuery, state: NodeState, now: number): HealthResult {
  if (!HEALTH_PATH_SET.has(path)) return NOT_FOUND;
  const parsed = parseQuery(query);
  if (parsed !== null && typeof parsed === 'object') return parsed;
  const lag = parsed;

  let healthy: boolean;
  let filterTags = true;
  switch (path as HealthPath) {
    case '/':
    case '/primary':
    case '/read-write':
      healthy = holdsLeaderKey(state, now) && runsAsPrimary(state);
      filterTags = false;
      break;
    case '/leader':
      healthy = holdsLeaderKey(state, now);
      filterTags = false;
      break;
    case '/replica':
      healthy = replicaOk(state, lag);
      break;
    case '/read-only':
      healthy = (holdsLeaderKey(state, now) && runsAsPrimary(state)) || replicaOk(state, lag);
      break;
    case '/sync':
      healthy = clusterViewValid(state, now) && isSyncStandby(state) && replicaOk(state, lag);
      break;
    case '/async':
      healthy = clusterViewValid(state, now) && !isSyncStandby(state) && replicaOk(state, lag);
      break;
    case '/health':
      healthy = state.pg.process === 'running';
      break;
    case '/liveness':
      // Paused: an operator is at work; do not let a supervisor restart the agent under them.
      healthy = state.cluster?.paused === true
        || (state.lastCycleAt !== null && now - state.lastCycleAt <= state.settings.ttlMs);
      filterTags = false;
      break;
    case '/readiness':
      healthy = holdsLeaderKey(state, now)
        || (state.pg.process === 'running' && state.pg.role === 'replica' && clusterViewValid(state, now));
      filterTags = false;
      break;
  }
  if (healthy && filterTags && !tagsMatch(query, state.tags)) healthy = false;
  return healthy ? OK : UNAVAILABLE;
}
