// A simulated etcd: one linearizable store (the cluster's quorum, abstracted) with a global
// revision, keys with create/mod revisions, leases whose TTL runs on etcd's own (drifting) clock
// and are revoked by a 500 ms ticker as real etcd does, transactions applied atomically on arrival,
// and watches that push changes to agents over the network. While etcd is unavailable (no quorum)
// requests get no answer and no lease expires; when it recovers every lease gets a full TTL again
// (etcd's lessor does this on leader promotion), so nothing expires because of the outage itself.
import type {
  ClusterView, FailoverRequest, HistoryRow, InitializeState, LeaderKeyInfo, LeaderStatus, MemberRecord, SyncState,
} from '../../agent/core/types.js';
import type { DynamicConfig } from '../../agent/config/types.js';
import type { HostClock, Scheduler } from './clock.js';
import type { Host, Network } from './network.js';
import type { Trace } from './trace.js';

export const ETCD: Host = 'etcd';
const TICK_MS = 500;

export interface KeyValue {
  readonly key: string;
  readonly value: unknown;
  readonly createRev: number;
  readonly modRev: number;
  readonly lease: number | null;
}

interface Lease {
  readonly id: number;
  readonly ttlMs: number;
  /** On etcd's clock. */
  expiresAt: number;
}

interface Watcher {
  readonly host: Host;
  readonly deliver: (key: string) => void;
  broken: boolean;
}

export class SimEtcd {
  #revision = 1;
  readonly #kv = new Map<string, KeyValue>();
  readonly #leases = new Map<number, Lease>();
  #nextLease = 0x7e57_0001;
  #available = true;
  #txnRev: number | null = null;
  #changed: string[] = [];
  readonly #watchers = new Set<Watcher>();

  constructor(
    private readonly sched: Scheduler,
    readonly clock: HostClock,
    private readonly net: Network,
    private readonly trace: Trace,
  ) {}

  start(): void {
    const tick = (): void => {
      this.#tick();
      this.sched.at(this.clock.globalAfter(TICK_MS), tick);
    };
    this.sched.at(this.clock.globalAfter(TICK_MS), tick);
  }

  get available(): boolean {
    return this.#available;
  }

  get revision(): number {
    return this.#revision;
  }

  setAvailable(up: boolean): void {
    if (up === this.#available) return;
    this.#available = up;
    if (up) {
      const now = this.clock.now();
      for (const l of this.#leases.values()) l.expiresAt = Math.max(l.expiresAt, now + l.ttlMs);
      this.trace.log('etcd', 'available again (every lease extended by its ttl)');
    } else {
      for (const w of this.#watchers) w.broken = true;
      this.trace.log('etcd', 'UNAVAILABLE (no quorum)');
    }
  }

  /**
   * Every member rebuilt empty (etcd lost its data): no key, no lease. The revision goes on (a
   * fresh cluster would restart it; nothing here relies on that). Watches see a broken stream.
   */
  wipe(): void {
    this.#kv.clear();
    this.#leases.clear();
    this.#revision++;
    for (const w of this.#watchers) w.broken = true;
    this.trace.log('etcd', 'WIPED: every key and lease is gone');
  }

  // --- client side: one request/response over the network ----------------------------------

  /**
   * Send `op` from `from`; it runs atomically when it reaches etcd (if etcd is available), and
   * `reply` gets its result when the answer gets back. Either leg may be lost: then nothing is
   * called and the caller's own deadline decides.
   */
  request<T>(from: Host, op: (e: SimEtcd) => T, reply: (result: T) => void): void {
    this.net.send(from, ETCD, () => {
      if (!this.#available) return;
      const result = op(this);
      this.net.send(ETCD, from, () => reply(result));
    });
  }

  // --- server side --------------------------------------------------------------------------

  get(key: string): KeyValue | undefined {
    return this.#kv.get(key);
  }

  /** Every key, sorted (a range read over the cluster prefix). */
  range(): KeyValue[] {
    return [...this.#kv.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Apply several writes as one revision (an etcd transaction). */
  txn<T>(fn: () => T): T {
    if (this.#txnRev !== null) return fn();
    this.#txnRev = this.#revision + 1;
    let wrote = false;
    try {
      return fn();
    } finally {
      wrote = this.#changed.length > 0;
      if (wrote) this.#revision = this.#txnRev;
      this.#txnRev = null;
      const changed = this.#changed;
      this.#changed = [];
      for (const k of changed) this.#notify(k);
    }
  }

  put(key: string, value: unknown, lease: number | null = null): void {
    this.txn(() => {
      const rev = this.#txnRev!;
      const old = this.#kv.get(key);
      this.#kv.set(key, { key, value, createRev: old?.createRev ?? rev, modRev: rev, lease });
      this.#changed.push(key);
    });
  }

  del(key: string): boolean {
    return this.txn(() => {
      if (!this.#kv.delete(key)) return false;
      this.#changed.push(key);
      return true;
    });
  }

  grant(ttlMs: number): number {
    const id = this.#nextLease++;
    this.#leases.set(id, { id, ttlMs, expiresAt: this.clock.now() + ttlMs });
    return id;
  }

  /** Remaining TTL (ms) after refreshing, or 0 when the lease no longer exists. */
  keepalive(id: number): number {
    const l = this.#leases.get(id);
    if (!l) return 0;
    l.expiresAt = this.clock.now() + l.ttlMs;
    return l.ttlMs;
  }

  /** When (on etcd's clock) the lease expires unless kept alive; null when it does not exist. */
  leaseExpiresAt(id: number): number | null {
    return this.#leases.get(id)?.expiresAt ?? null;
  }

  leaseAlive(id: number | null): boolean {
    return id !== null && this.#leases.has(id);
  }

  revoke(id: number): void {
    if (!this.#leases.delete(id)) return;
    this.txn(() => {
      for (const kv of [...this.#kv.values()]) {
        if (kv.lease === id) this.del(kv.key);
      }
    });
  }

  #tick(): void {
    if (!this.#available) return;
    const now = this.clock.now();
    const expired = [...this.#leases.values()].filter((l) => l.expiresAt <= now).map((l) => l.id).sort((a, b) => a - b);
    for (const id of expired) {
      const keys = [...this.#kv.values()].filter((kv) => kv.lease === id).map((kv) => kv.key);
      this.trace.log('etcd', `lease ${id.toString(16)} expired${keys.length ? `; deleted ${keys.join(', ')}` : ''}`);
      this.revoke(id);
    }
    for (const w of this.#watchers) {
      if (w.broken && this.net.up(ETCD, w.host)) {
        w.broken = false;
        // The watch reconnected after missing events: "" means "re-read everything".
        this.net.send(ETCD, w.host, () => w.deliver(''), false);
      }
    }
  }

  // --- watches ------------------------------------------------------------------------------

  /** Register a watch for `host`; it starts broken and connects at the next tick it can. */
  watch(host: Host, deliver: (key: string) => void): () => void {
    const w: Watcher = { host, deliver, broken: true };
    this.#watchers.add(w);
    return () => { this.#watchers.delete(w); };
  }

  #notify(key: string): void {
    for (const w of this.#watchers) {
      if (w.broken) continue;
      if (!this.net.up(ETCD, w.host)) {
        w.broken = true;
        continue;
      }
      this.net.send(ETCD, w.host, () => w.deliver(key), false);
    }
  }
}

// --- the cluster's keys, as the DCS adapter decodes them ----------------------------------------

export const KEY = {
  initialize: 'initialize',
  leader: 'leader',
  config: 'config',
  status: 'status',
  sync: 'sync',
  history: 'history',
  failover: 'failover',
  member: (name: string) => `members/${name}`,
} as const;

export interface Snapshot {
  readonly view: ClusterView;
  readonly revision: number;
  /** The dynamic config in `config` (null when absent) and its mod revision (0 when absent). */
  readonly config: DynamicConfig | null;
  readonly configRevision: number;
  /** Lease the `leader` key is bound to (null when absent). */
  readonly leaderLease: number | null;
  /** Lease the `initialize` key is bound to (null when absent or on no lease). */
  readonly initializeLease: number | null;
}

/** Decode a range read of the cluster's keys into the core's ClusterView (mirror of decodeCluster). */
export function decodeCluster(kvs: readonly KeyValue[], revision: number): Snapshot {
  let initialize: InitializeState = { state: 'absent' };
  let leader: string | null = null;
  let leaderLease: number | null = null;
  let leaderKey: LeaderKeyInfo | null = null;
  let initializeLease: number | null = null;
  const members: MemberRecord[] = [];
  let status: LeaderStatus | null = null;
  let sync: SyncState | null = null;
  let history: readonly HistoryRow[] = [];
  let failover: FailoverRequest | null = null;
  let config: DynamicConfig | null = null;
  let configRevision = 0;
  for (const kv of kvs) {
    if (kv.key === KEY.initialize) {
      const v = kv.value;
      initialize = v === '' ? { state: 'bootstrapping' } : typeof v === 'string' && /^[0-9]{1,20}$/.test(v) ? { state: 'done', systemId: v } : { state: 'malformed' };
      initializeLease = kv.lease;
    } else if (kv.key === KEY.leader) {
      leader = typeof kv.value === 'string' && kv.value !== '' ? kv.value : null;
      leaderLease = kv.lease;
      leaderKey = { revision: kv.modRev, onLease: kv.lease !== null };
    } else if (kv.key.startsWith('members/')) {
      members.push(kv.value as MemberRecord);
    } else if (kv.key === KEY.status) {
      status = kv.value as LeaderStatus;
    } else if (kv.key === KEY.sync) {
      sync = kv.value as SyncState;
    } else if (kv.key === KEY.history) {
      history = kv.value as HistoryRow[];
    } else if (kv.key === KEY.failover) {
      failover = kv.value as FailoverRequest;
    } else if (kv.key === KEY.config) {
      config = kv.value as DynamicConfig;
      configRevision = kv.modRev;
    }
  }
  return {
    view: { initialize, leader, leaderKey, members, status, failover, sync, history, paused: false },
    revision,
    config,
    configRevision,
    leaderLease,
    initializeLease,
  };
}

export function sameSync(a: SyncState | null, b: SyncState | null): boolean {
  if (a === null || b === null) return a === b;
  const sa = [...new Set(a.syncStandbys)].sort().join(',');
  const sb = [...new Set(b.syncStandbys)].sort().join(',');
  return a.leader === b.leader && sa === sb;
}
