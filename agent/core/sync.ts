// Synchronous replication (rule 5), as a plan the primary carries out in order each cycle:
//   1. unpublish: remove standbys from `sync` (CAS) BEFORE removing them from PostgreSQL;
//   2. ssn: set synchronous_standby_names to exactly the chosen standbys, every one of which
//      must confirm each commit (FIRST k of k names), so each listed standby holds every
//      acknowledged commit — or, with none available, '' (non-strict: asynchronous) or '*'
//      (strict: commits wait for any standby);
//   3. publish: add to `sync` only standbys PostgreSQL already reports synchronous under an
//      unchanged synchronous_standby_names (add to PostgreSQL first, publish second), and that
//      have replayed the primary's position from after that setting took effect (so they hold
//      the commits acknowledged asynchronously before it, too — Patroni's _primary_flush_lsn).
// Standbys that may never be promoted are chosen last (Patroni prefers members without
// nofailover): a `sync` key naming only them would block every automatic failover.
// Pure: the runtime supplies the replication rows and member tags.
import type { ClusterView, Lsn } from './types.js';

export interface SyncInput {
  readonly enabled: boolean;
  readonly strict: boolean;
  readonly count: number;
  /** Standbys in our `sync` key (empty when the key names another leader or is absent). */
  readonly published: readonly string[];
  /** Replicas streaming from us (pg_stat_replication, state 'streaming'), with replay position. */
  readonly streaming: readonly { readonly name: string; readonly lsn: Lsn | null }[];
  /** Names of members that have a member key and are not tagged nosync. */
  readonly candidates: ReadonlySet<string>;
  /** Standbys PostgreSQL reports as sync right now (sync_state 'sync' or 'quorum'). */
  readonly pgSync: readonly string[];
  /**
   * Candidates that may never be promoted (nofailover, failover_priority ≤ 0). They are chosen
   * only when no promotable standby streams: as the only name in `sync` they would confirm
   * commits but leave the cluster without any eligible replica when the primary dies.
   */
  readonly unpromotable: ReadonlySet<string>;
  /**
   * The primary's flushed WAL position measured after the current synchronous_standby_names
   * took effect (null: not measured yet). A standby PostgreSQL reports 'sync' may still lack
   * commits acknowledged *before* that (asynchronously); it is published only once its replay
   * position reached this, so every name in `sync` holds every acknowledged commit.
   */
  readonly caughtUpTo: Lsn | null;
}

export interface SyncPlan {
  /** When non-null: first write `sync` with exactly these standbys. */
  readonly unpublish: readonly string[] | null;
  /** Then set synchronous_standby_names to this. */
  readonly ssn: string;
  /** The standbys to publish in `sync` if `ssn` was already in effect (null: no change). */
  readonly publish: readonly string[] | null;
  /** The standbys chosen (in ssn order). */
  readonly chosen: readonly string[];
  /** 'synchronous' | 'asynchronous' (no standby, non-strict) | 'waiting' (strict, no standby) | 'off'. */
  readonly state: 'synchronous' | 'asynchronous' | 'waiting' | 'off';
}

/** PostgreSQL's syntax: FIRST k ("a", "b") with names quoted as identifiers. */
export function ssnFor(names: readonly string[]): string {
  if (names.length === 0) return '';
  return `FIRST ${names.length} (${names.map((n) => `"${n.replace(/"/g, '""')}"`).join(', ')})`;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

export function planSync(input: SyncInput): SyncPlan {
  if (!input.enabled) {
    return {
      unpublish: input.published.length ? [] : null, ssn: '', publish: null, chosen: [], state: 'off',
    };
  }
  const healthy = input.streaming.filter((s) => input.candidates.has(s.name));
  const healthyNames = new Set(healthy.map((s) => s.name));
  // Sticky: keep standbys that are already synchronous while they stay healthy, then the most
  // caught-up others (name breaks ties, for determinism).
  const rest = healthy
    .filter((s) => !input.published.includes(s.name))
    .sort((a, b) => (b.lsn ?? -1) - (a.lsn ?? -1) || a.name.localeCompare(b.name))
    .map((s) => s.name);
  const sticky = [...input.published.filter((n) => healthyNames.has(n)), ...rest];
  // Standbys that could take over come first (a stable partition keeps the order above).
  const ordered = [...sticky.filter((n) => !input.unpromotable.has(n)), ...sticky.filter((n) => input.unpromotable.has(n))];
  const chosen = ordered.slice(0, Math.max(1, input.count));
  const keep = input.published.filter((n) => chosen.includes(n));
  const unpublish = sameSet(keep, input.published) ? null : keep;
  const ssn = chosen.length ? ssnFor(chosen) : input.strict ? '*' : '';
  const replayed = new Map(healthy.map((s) => [s.name, s.lsn]));
  const caughtUp = (n: string): boolean =>
    input.caughtUpTo !== null && (replayed.get(n) ?? null) !== null && replayed.get(n)! >= input.caughtUpTo;
  // Already published standbys stay (they confirmed every commit since); new ones must have caught up.
  const confirmed = chosen.filter((n) => input.pgSync.includes(n) && (keep.includes(n) || caughtUp(n)));
  const publish = sameSet(confirmed, keep) ? null : confirmed;
  const state = chosen.length ? 'synchronous' : input.strict ? 'waiting' : 'asynchronous';
  return { unpublish, ssn, publish, chosen, state };
}

/**
 * Rule 5 at the last moment: may `name`, holding the leader key, promote in synchronous mode,
 * judged on the `sync` value it is about to take over? Only a member `sync` names (a standby,
 * or the leader itself) holds every acknowledged commit. A race decided on a stale view can win
 * the key after `sync` moved on (the sync standby was frozen meanwhile, the old primary came
 * back and acknowledged commits without it); promoting then would lose them. An operator's
 * failover naming `name` overrides. Returns why not, or null when promotion is allowed.
 */
export function syncBarsPromotion(name: string, cluster: ClusterView | null): string | null {
  const sync = cluster?.sync ?? null;
  if (sync === null || sync.leader === name || sync.syncStandbys.includes(name)) return null;
  if (cluster?.failover?.candidate === name) return null;
  const named = [sync.leader, ...sync.syncStandbys].join(', ');
  return `sync names ${named}, not me: I may lack commits acknowledged since`;
}
