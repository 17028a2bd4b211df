// MODEL OF DESIGN RULE 5 (synchronous mode), NOT A MIRROR OF THE RUNTIME: at the time of
// writing agent/runtime never writes the `sync` key nor synchronous_standby_names, so with
// synchronous_mode on it would acknowledge commits asynchronously. To check that the *design*
// (rule 5 + the core's eligibility and race rules) never loses an acknowledged commit, the
// simulated leader runs this protocol, Patroni's, each cycle:
//
//   - the `sync` key names the current leader (a new primary rewrites it before promoting);
//   - a standby is added to synchronous_standby_names first, and published in `sync` only once
//     it has flushed the WAL position current when that setting took effect (so it holds every
//     commit acknowledged before; every later commit waits for it);
//   - a standby is removed from `sync` first (compare-and-swap) and from
//     synchronous_standby_names only after that;
//   - every `sync` write is a compare-and-swap on its previous value.
//
// When the runtime implements rule 5, replace this module by driving that code.
import { neverPromote } from '../../agent/core/eligibility.js';
import type { ClusterView, SyncState } from '../../agent/core/types.js';
import type { Co } from './proc.js';
import type { SimPostgres } from './postgres.js';

export interface SyncCtx {
  readonly name: string;
  readonly pg: SimPostgres;
  log(what: string): void;
  writeSync(next: SyncState, expected: SyncState | null): Co<boolean>;
  setSyncStandbys(names: readonly string[]): Co<void>;
  /** A standby being added: published once it flushed `lsn` (null until the setting is in force). */
  pending: { name: string; lsn: number | null } | null;
}

const same = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** The leader's per-cycle synchronous-replication duty. */
export function* syncDuty(ctx: SyncCtx, cluster: ClusterView): Co<void> {
  const me = ctx.name;
  if (!ctx.pg.data || !ctx.pg.writable) return;
  let sync: SyncState | null = cluster.sync;
  if (!sync || sync.leader !== me) {
    const next: SyncState = { leader: me, syncStandbys: [] };
    if (!(yield* ctx.writeSync(next, sync))) return;
    ctx.log(`sync key now names me (was ${sync ? `${sync.leader}: [${sync.syncStandbys.join(',')}]` : 'absent'})`);
    sync = next;
  }
  const streaming = new Map(ctx.pg.replication().map((r) => [r.name, r.flush]));
  const ssn = ctx.pg.data.ssn;
  // 1. A listed standby that stopped streaming (or is not in synchronous_standby_names) leaves
  //    `sync` first.
  const keep = sync.syncStandbys.filter((n) => streaming.has(n) && ssn.includes(n));
  if (keep.length !== sync.syncStandbys.length) {
    const next: SyncState = { leader: me, syncStandbys: keep };
    if (!(yield* ctx.writeSync(next, sync))) return;
    ctx.log(`removed ${sync.syncStandbys.filter((n) => !keep.includes(n)).join(',')} from sync`);
    sync = next;
  }
  const listed = sync.syncStandbys;
  if (ctx.pending && (!streaming.has(ctx.pending.name) || listed.length > 0)) ctx.pending = null;
  // 2. Pick a standby to add when none is listed nor being added.
  if (listed.length === 0 && !ctx.pending) {
    const members = new Map(cluster.members.map((m) => [m.name, m]));
    // Only a standby that could take over is worth waiting for (not nosync, not nofailover/priority 0).
    const candidate = [...streaming.keys()].filter((n) => {
      const tags = members.get(n)?.tags;
      return n !== me && tags !== undefined && !tags.nosync && neverPromote(tags) === null;
    }).sort()[0];
    if (candidate) ctx.pending = { name: candidate, lsn: null };
  }
  // 3. synchronous_standby_names = listed ∪ pending, applied after any removal from `sync`.
  const want = [...new Set([...listed, ...(ctx.pending ? [ctx.pending.name] : [])])].sort();
  if (!same(want, [...ssn].sort())) {
    yield* ctx.setSyncStandbys(want);
    ctx.log(`synchronous_standby_names = [${want.join(',')}]`);
  }
  const data = ctx.pg.data;
  if (!data) return;
  if (ctx.pending && ctx.pending.lsn === null && data.ssn.includes(ctx.pending.name)) {
    // From here on every commit waits for it; all acknowledged so far end at or before this.
    ctx.pending.lsn = data.flush;
  }
  // 4. Publish the pending standby once it caught up to that position.
  const p = ctx.pending;
  if (p && p.lsn !== null && listed.length === 0) {
    const flushed = new Map(ctx.pg.replication().map((r) => [r.name, r.flush])).get(p.name);
    if (flushed !== undefined && flushed >= p.lsn) {
      const next: SyncState = { leader: me, syncStandbys: [p.name] };
      if (yield* ctx.writeSync(next, sync)) {
        ctx.log(`published ${p.name} in sync (flushed ${flushed} ≥ ${p.lsn})`);
        ctx.pending = null;
      }
    }
  }
}
