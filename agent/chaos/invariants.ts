// Invariant checkers over recorded histories. PURE: no I/O, no clocks; times are whatever the
// recorder used (simulated ms in test/sim, monotonic ms in the chaos suite), as long as one history
// uses one clock. Each checker returns what it found and `ok`; a checker is only worth having if it
// can fail, so test/unit/chaos/invariants.test.ts feeds each one a history with the violation.

/** A write the client saw acknowledged (COMMIT returned). */
export interface AckedWrite {
  readonly id: number;
  /** The node that acknowledged it, when known. */
  readonly node?: string;
  readonly at: number;
}

export type ReplicationMode = 'sync' | 'async';

export interface LostWritesReport {
  readonly mode: ReplicationMode;
  readonly acked: number;
  /** Acknowledged ids missing from the surviving data, ascending. */
  readonly lost: number[];
  /**
   * Synchronous mode: false when any acknowledged write is missing (rule 5). Asynchronous mode
   * may lose the tail of acknowledged writes by design, so it stays true and `lost` is the count
   * to report.
   */
  readonly ok: boolean;
}

/** Which acknowledged writes are missing from `present` (the ids found on the surviving primary). */
export function checkLostWrites(
  acks: readonly AckedWrite[], present: ReadonlySet<number> | readonly number[], mode: ReplicationMode,
): LostWritesReport {
  const have: ReadonlySet<number> = present instanceof Set ? present : new Set(present as readonly number[]);
  const lost = [...new Set(acks.filter((a) => !have.has(a.id)).map((a) => a.id))].sort((a, b) => a - b);
  return { mode, acked: acks.length, lost, ok: mode === 'async' || lost.length === 0 };
}

/** "Node X accepted (or refused) a test write at time t", from a probe that writes to every node. */
export interface WriteSample {
  readonly at: number;
  readonly node: string;
  readonly writable: boolean;
}

export interface SplitBrainWindow {
  readonly from: number;
  readonly to: number;
  /** Every node writable somewhere in [from, to], sorted. */
  readonly nodes: string[];
}

export interface SplitBrainReport {
  readonly windows: SplitBrainWindow[];
  readonly ok: boolean;
}

interface Interval {
  readonly node: string;
  readonly from: number;
  readonly to: number;
}

/**
 * A node is known writable over [first, last] of each run of consecutive writable samples (one
 * writable sample alone is the point [t, t]); between a writable and a refused sample we do not
 * know, so that gap never counts. Two nodes whose known-writable intervals overlap were both
 * writable at once: a split brain. Overlapping overlaps merge into one window.
 */
export function checkSplitBrain(samples: readonly WriteSample[]): SplitBrainReport {
  const byNode = new Map<string, WriteSample[]>();
  for (const s of samples) {
    const list = byNode.get(s.node);
    if (list) list.push(s);
    else byNode.set(s.node, [s]);
  }
  const intervals: Interval[] = [];
  for (const [node, list] of byNode) {
    const sorted = list.map((s, i) => ({ s, i })).sort((a, b) => a.s.at - b.s.at || a.i - b.i).map((x) => x.s);
    let open: { from: number; to: number } | null = null;
    for (const s of sorted) {
      if (s.writable) {
        if (open) open.to = s.at;
        else open = { from: s.at, to: s.at };
      } else if (open) {
        intervals.push({ node, ...open });
        open = null;
      }
    }
    if (open) intervals.push({ node, ...open });
  }
  intervals.sort((a, b) => a.from - b.from || a.to - b.to || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));

  const overlaps: SplitBrainWindow[] = [];
  const active: Interval[] = [];
  for (const iv of intervals) {
    for (let k = active.length - 1; k >= 0; k--) if (active[k]!.to < iv.from) active.splice(k, 1);
    for (const other of active) {
      if (other.node === iv.node) continue;
      overlaps.push({ from: iv.from, to: Math.min(iv.to, other.to), nodes: [other.node, iv.node].sort() });
    }
    active.push(iv);
  }
  overlaps.sort((a, b) => a.from - b.from || a.to - b.to);
  const windows: SplitBrainWindow[] = [];
  for (const o of overlaps) {
    const last = windows[windows.length - 1];
    if (last && o.from <= last.to) {
      windows[windows.length - 1] = {
        from: last.from, to: Math.max(last.to, o.to), nodes: [...new Set([...last.nodes, ...o.nodes])].sort(),
      };
    } else {
      windows.push(o);
    }
  }
  return { windows, ok: windows.length === 0 };
}

export interface Promotion {
  readonly node: string;
  readonly at: number;
}

export interface StaleAck {
  readonly id: number;
  readonly node: string;
  readonly at: number;
  /** The later promotion of another node that this acknowledgement ignored. */
  readonly promoted: string;
  readonly promotedAt: number;
}

export interface StaleAcksReport {
  readonly stale: StaleAck[];
  readonly ok: boolean;
}

/**
 * After a node is promoted, only it may acknowledge writes until the next promotion. An
 * acknowledgement by X at t is stale when the latest promotion at or before t was of another
 * node (so X was demoted in everyone's eyes but still committed). Acknowledgements before the
 * first promotion, or without a node, cannot be judged and are skipped. Include the bootstrap
 * of the first primary as a promotion.
 */
export function checkStaleAcks(acks: readonly AckedWrite[], promotions: readonly Promotion[]): StaleAcksReport {
  const promos = promotions.map((p, i) => ({ p, i })).sort((a, b) => a.p.at - b.p.at || a.i - b.i).map((x) => x.p);
  const stale: StaleAck[] = [];
  for (const ack of acks) {
    if (ack.node === undefined) continue;
    let lo = 0;
    let hi = promos.length; // first promotion with at > ack.at
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (promos[mid]!.at <= ack.at) lo = mid + 1;
      else hi = mid;
    }
    const latest = promos[lo - 1];
    if (latest && latest.node !== ack.node) {
      stale.push({ id: ack.id, node: ack.node, at: ack.at, promoted: latest.node, promotedAt: latest.at });
    }
  }
  return { stale, ok: stale.length === 0 };
}

/** One observation of one node. */
export interface NodeStateSample {
  readonly at: number;
  readonly node: string;
  /** 'primary' means a writable primary; anything else (replica, stopped…) is not. */
  readonly role: string;
  /** A replica whose WAL receiver is connected and streaming. */
  readonly streaming: boolean;
  /** Where a replica streams from; when given it must be the one primary. */
  readonly upstream?: string | null;
}

/**
 * Milliseconds from `healAt` until the first observation at which exactly one node is primary and
 * every other node is a replica streaming (from that primary, when `upstream` is recorded). Each
 * node counts with its latest sample at or before that instant; a node never sampled blocks
 * convergence. Null when it never converged.
 */
export function convergenceTime(states: readonly NodeStateSample[], healAt: number): number | null {
  const nodes = [...new Set(states.map((s) => s.node))];
  const sorted = states.map((s, i) => ({ s, i })).sort((a, b) => a.s.at - b.s.at || a.i - b.i).map((x) => x.s);
  const latest = new Map<string, NodeStateSample>();
  let k = 0;
  while (k < sorted.length) {
    const at = sorted[k]!.at;
    while (k < sorted.length && sorted[k]!.at === at) {
      latest.set(sorted[k]!.node, sorted[k]!);
      k++;
    }
    if (at < healAt || latest.size < nodes.length) continue;
    const all = [...latest.values()];
    const primaries = all.filter((s) => s.role === 'primary');
    if (primaries.length !== 1) continue;
    const primary = primaries[0]!.node;
    const othersOk = all.every((s) => s.node === primary
      || (s.role === 'replica' && s.streaming && (s.upstream === undefined || s.upstream === primary)));
    if (othersOk) return at - healAt;
  }
  return null;
}

/** Convergence after heal is expected within this (issue: "convergence within 30 s after heal"). */
export const CONVERGENCE_LIMIT_MS = 30_000;

function stateLabel(s: NodeStateSample): string {
  if (s.role !== 'replica') return s.role;
  if (!s.streaming) return 'replica not streaming';
  return s.upstream ? `replica streaming from ${s.upstream}` : 'replica streaming';
}

/**
 * What each node went through between `from` and `to`: its state changes, as
 * "node2: replica not streaming +0.0 s → replica streaming from node1 +35.2 s". For explaining a
 * slow convergence.
 */
export function stateTimeline(states: readonly NodeStateSample[], from: number, to: number): string[] {
  const byNode = new Map<string, { at: number; label: string }[]>();
  for (const s of [...states].sort((a, b) => a.at - b.at)) {
    if (s.at > to) break;
    const list = byNode.get(s.node) ?? [];
    byNode.set(s.node, list);
    const label = stateLabel(s);
    if (s.at < from) {
      list.splice(0, list.length, { at: from, label }); // the state the node was in at `from`
      continue;
    }
    if (list.at(-1)?.label !== label) list.push({ at: s.at, label });
  }
  return [...byNode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([node, list]) =>
    `${node}: ${list.map((x) => `${x.label} +${((x.at - from) / 1000).toFixed(1)} s`).join(' → ')}`);
}

/**
 * The writer's failed attempts grouped by what went wrong ("query: Connection terminated ×12"),
 * most frequent first: why writes stopped, in one line of the report. Numbers in messages are
 * blanked so one cause makes one group.
 */
export function failureSummary(failures: readonly { readonly phase: string; readonly error: string }[], top = 3): string | null {
  if (failures.length === 0) return null;
  const counts = new Map<string, number>();
  for (const f of failures) {
    const key = `${f.phase}: ${f.error.replace(/\d+/g, 'N').slice(0, 120)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, n]) => `${k} ×${n}`).join('; ');
}
