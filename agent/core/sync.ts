// Synchronous replication (rule 5), as a plan the primary carries out in order each cycle:
//   1. unpublish: remove standbys from `sync` (CAS) BEFORE removing them from PostgreSQL;
//   2. ssn: set synchronous_standby_names to exactly the chosen standbys, every one of which
//      must confirm each commit (FIRST k of k names), so each listed standby holds every
//      acknowledged commit — or, with none available, '' (non-strict: asynchronous) or '*'
//      (strict: commits wait for any standby);
//   3. publish: add to `sync` only standbys PostgreSQL already reports synchronous under an
//      unchanged synchronous_standby_names (add to PostgreSQL first, publish second).
// Pure: the runtime supplies the replication rows and member tags.
import type { Lsn } from './types.js';

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
  const ordered = [...input.published.filter((n) => healthyNames.has(n)), ...rest];
  const chosen = ordered.slice(0, Math.max(1, input.count));
  const keep = input.published.filter((n) => chosen.includes(n));
  const unpublish = sameSet(keep, input.published) ? null : keep;
  const ssn = chosen.length ? ssnFor(chosen) : input.strict ? '*' : '';
  const confirmed = chosen.filter((n) => input.pgSync.includes(n));
  const publish = sameSet(confirmed, keep) ? null : confirmed;
  const state = chosen.length ? 'synchronous' : input.strict ? 'waiting' : 'asynchronous';
  return { unpublish, ssn, publish, chosen, state };
}
