// The runtime's Dcs port over the simulated etcd: each call is one request over the simulated
// network with the retry_timeout deadline, its transaction applied atomically when it reaches
// etcd (the same compares as agent/dcs/etcd-dcs.ts). The lease's life (keepalive, grant, the move
// to a lease with a new TTL) is the shipped LeaseRotation.
import type { DynamicConfig } from '../../../agent/config/types.js';
import type { FailoverRequest, HistoryRow, InitializeState, LeaderStatus, MemberRecord, SyncState } from '../../../agent/core/types.js';
import { LeaseRotation, type LeaseCalls } from '../../../agent/dcs/lease-rotation.js';
import type { AcquireLeaderOptions, ClusterSnapshot, Dcs, LeaseRenewal, ViewChange } from '../../../agent/ports/ports.js';
import { KEY, decodeCluster, sameSync, type SimEtcd } from '../etcd.js';
import type { Host } from '../network.js';
import type { Proc } from '../proc.js';

/** What the simulated DCS needs from the world. */
export interface SimDcsEnv {
  readonly name: string;
  readonly host: Host;
  readonly proc: Proc;
  readonly etcd: SimEtcd;
  readonly retryTimeoutMs: () => number;
  /** The request `what` has just been sent (scenario triggers). */
  requestSent(what: string): void;
  /** A `status` write reached etcd; `holder` is who the leader key named then. */
  statusWritten(holder: string | null): void;
  log(line: string): void;
}

/** etcd refused the request (it got there and back): the adapter's DcsError. */
class EtcdRefusal {
  constructor(readonly kind: 'no_lease' | 'rejected', readonly message: string) {}
}

export class SimDcsError extends Error {
  constructor(readonly kind: 'no_lease' | 'rejected' | 'timeout', message: string) {
    super(message);
    this.name = 'SimDcsError';
  }
}

const NO_LEASE = new EtcdRefusal('no_lease', 'requested lease not found');

export class SimDcs implements Dcs {
  readonly #rotation: LeaseRotation;
  #closed = false;
  #unwatch: (() => void) | null = null;

  constructor(private readonly env: SimDcsEnv) {
    this.#rotation = new LeaseRotation({
      granted: (id, ttl, why) => env.log(`granted etcd lease ${Number(id).toString(16)} ttl ${ttl} s (${why})`),
      moved: (from, to, ttl) => env.log(`keys moved from lease ${Number(from).toString(16)} to ${Number(to).toString(16)} (ttl ${ttl} s)`),
      moveFailed: (from, to, err) => env.log(`could not move keys from lease ${Number(from).toString(16)} to ${Number(to).toString(16)}: ${String(err)}`),
    });
  }

  /** Our current etcd lease (null before the first grant or after losing it). */
  get leaseId(): number | null {
    const id = this.#rotation.id;
    return id === null ? null : Number(id);
  }

  /** One request with a deadline ending `budgetEnd` (monotonic, this host) or retry_timeout from now. */
  #call<T>(what: string, op: (e: SimEtcd) => T | EtcdRefusal, budgetEnd?: number): Promise<T> {
    const { proc, etcd, host } = this.env;
    const timeout = budgetEnd === undefined ? this.env.retryTimeoutMs() : Math.max(1, budgetEnd - proc.clock.now());
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const t = proc.timer(timeout, () => {
        if (settled) return;
        settled = true;
        reject(new SimDcsError('timeout', `${what}: deadline exceeded`));
      });
      etcd.request(host, op, proc.gate((res: T | EtcdRefusal) => {
        if (settled) return;
        settled = true;
        t.cancel();
        if (res instanceof EtcdRefusal) reject(new SimDcsError(res.kind, `${what}: ${res.kind}: ${res.message}`));
        else resolve(res);
      }));
      this.env.requestSent(what);
    });
  }

  /** A request that writes on `lease`: if etcd no longer knows that lease, forget it. */
  async #leased<T>(lease: number, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof SimDcsError && err.kind === 'no_lease') this.#rotation.lost(String(lease));
      throw err;
    }
  }

  #requireLease(): number {
    const id = this.leaseId;
    if (id === null) throw new SimDcsError('no_lease', 'no etcd lease: renewLease() must succeed first');
    return id;
  }

  async readCluster(): Promise<ClusterSnapshot> {
    const name = this.env.name;
    const snap = await this.#call('read cluster', (e) => decodeCluster(e.range(), e.revision));
    // "Ours" means on the lease we hold when the answer arrives (as EtcdDcs decides it).
    const lease = this.leaseId;
    return {
      view: snap.view,
      config: snap.config,
      configRevision: snap.configRevision,
      revision: snap.revision,
      leaderIsOurs: snap.view.leader === name && lease !== null && snap.leaderLease === lease,
      initializeIsOurs: snap.view.initialize.state === 'bootstrapping' && lease !== null && snap.initializeLease === lease,
    };
  }

  renewLease(ttlSeconds: number): Promise<LeaseRenewal> {
    if (this.#closed) return Promise.reject(new Error('closed'));
    // Keepalive, grant and move share one budget, like the adapter's.
    const budgetEnd = this.env.proc.clock.now() + this.env.retryTimeoutMs();
    const now = (): number => this.env.proc.clock.now();
    const calls: LeaseCalls = {
      keepalive: async (id) => {
        const sentAt = now();
        const ms = await this.#call('lease keepalive', (e) => e.keepalive(Number(id)), budgetEnd);
        return { sentAt, ttlSeconds: ms / 1000 };
      },
      grant: async (ttl) => {
        const sentAt = now();
        const id = await this.#call('lease grant', (e) => e.grant(ttl * 1000), budgetEnd);
        return { sentAt, id: String(id), ttlSeconds: ttl };
      },
      rebind: async (from, to) => {
        const name = this.env.name;
        await this.#call('move keys to the new lease', (e) => e.txn(() => {
          for (const key of [KEY.leader, KEY.member(name), KEY.initialize]) {
            const kv = e.get(key);
            if (!kv || kv.lease !== Number(from)) continue;
            if (key === KEY.leader && kv.value !== name) continue;
            if (key === KEY.initialize && kv.value !== '') continue;
            e.put(key, kv.value, Number(to));
          }
          return true;
        }), budgetEnd);
      },
      revoke: async (id) => {
        await this.#call('lease revoke', (e) => { e.revoke(Number(id)); return true; }, budgetEnd);
      },
    };
    return this.#rotation.renew(calls, ttlSeconds);
  }

  async acquireLeader(opts: AcquireLeaderOptions = {}): Promise<boolean> {
    const lease = this.#requireLease();
    const name = this.env.name;
    const decided = opts.decidedAtRevision;
    const r = await this.#leased(lease, this.#call('acquire leader', (e): boolean | ViewChange[] | EtcdRefusal => e.txn(() => {
      const kv = e.get(KEY.leader);
      if (kv && kv.value === name && kv.lease === lease) return true;
      // Another member's key is a lost race, whatever changed; else the view must still hold.
      if (kv && kv.value !== name) return false;
      if (decided !== undefined) {
        const changed = ([KEY.status, KEY.history] as const)
          .map((key) => ({ key, modRevision: e.get(key)?.modRev ?? 0 }))
          .filter((c) => c.modRevision > decided);
        if (changed.length > 0) return changed;
      }
      if (!e.leaseAlive(lease)) return NO_LEASE;
      e.put(KEY.leader, name, lease);
      return true;
    })));
    if (typeof r === 'boolean') return r;
    opts.onViewChanged?.(r);
    return false;
  }

  releaseLeader(): Promise<boolean> {
    const name = this.env.name;
    return this.#call('release leader', (e) => e.txn(() => (e.get(KEY.leader)?.value === name ? e.del(KEY.leader) : false)));
  }

  deleteLeaderAt(revision: number): Promise<boolean> {
    return this.#call('delete invalid leader', (e) => e.txn(() => (e.get(KEY.leader)?.modRev === revision ? e.del(KEY.leader) : false)));
  }

  async touchMember(member: MemberRecord): Promise<void> {
    const lease = this.#requireLease();
    await this.#leased(lease, this.#call('touch member', (e) => {
      if (!e.leaseAlive(lease)) return NO_LEASE;
      e.put(KEY.member(this.env.name), member, lease);
      return true;
    }));
  }

  claimInitialize(): Promise<boolean> {
    const lease = this.#requireLease();
    return this.#leased(lease, this.#call('claim initialize', (e) => e.txn(() => {
      const kv = e.get(KEY.initialize);
      if (kv) return kv.value === '' && kv.lease === lease;
      if (!e.leaseAlive(lease)) return NO_LEASE;
      e.put(KEY.initialize, '', lease);
      return true;
    })));
  }

  async completeInitialize(systemId: string): Promise<void> {
    const lease = this.leaseId;
    await this.#call('complete initialize', (e) => e.txn(() => {
      const kv = e.get(KEY.initialize);
      if (kv?.value === '' && lease !== null && kv.lease === lease) {
        e.put(KEY.initialize, systemId); // no lease: initialized for good
        return true;
      }
      return kv?.value === systemId ? true : new EtcdRefusal('rejected', `initialize holds ${kv ? `${JSON.stringify(kv.value)} on lease ${String(kv.lease)}` : 'nothing'}, not our bootstrap claim`);
    }));
  }

  abandonInitialize(): Promise<InitializeState> {
    const lease = this.leaseId;
    return this.#call('abandon initialize', (e) => e.txn(() => {
      const kv = e.get(KEY.initialize);
      if (lease !== null && kv?.value === '' && kv.lease === lease) e.del(KEY.initialize);
      return decodeCluster(e.range(), e.revision).view.initialize;
    }));
  }

  async initializeConfig(config: DynamicConfig): Promise<void> {
    await this.#call('initialize config', (e) => e.txn(() => {
      if (!e.get(KEY.config)) e.put(KEY.config, config);
      return true;
    }));
  }

  writeConfig(config: DynamicConfig, expectedRevision: number): Promise<boolean> {
    return this.#call('write config', (e) => e.txn(() => {
      if ((e.get(KEY.config)?.modRev ?? 0) !== expectedRevision) return false;
      e.put(KEY.config, config);
      return true;
    }));
  }

  writeStatus(status: LeaderStatus): Promise<boolean> {
    const lease = this.leaseId;
    const name = this.env.name;
    if (lease === null) return Promise.resolve(false);
    // A transaction on the leader key naming us, on our current lease.
    return this.#call('write status', (e) => {
      const leader = e.get(KEY.leader);
      if (leader?.value !== name || leader.lease !== lease) return false;
      this.env.statusWritten(typeof leader.value === 'string' ? leader.value : null);
      e.put(KEY.status, status);
      return true;
    });
  }

  async appendHistory(row: HistoryRow): Promise<void> {
    await this.#call('append history', (e) => e.txn(() => {
      const rows = (e.get(KEY.history)?.value as HistoryRow[] | undefined) ?? [];
      if (!rows.some((r) => r.timeline === row.timeline)) e.put(KEY.history, [...rows, row]);
      return true;
    }));
  }

  async setFailover(request: FailoverRequest | null): Promise<void> {
    await this.#call(request ? 'set failover' : 'clear failover', (e) => {
      if (request) e.put(KEY.failover, request);
      else e.del(KEY.failover);
      return true;
    });
  }

  writeSync(next: SyncState, expected: SyncState | null): Promise<boolean> {
    return this.#call('write sync', (e) => e.txn(() => {
      const current = (e.get(KEY.sync)?.value as SyncState | undefined) ?? null;
      if (sameSync(current, next)) return true;
      if (!sameSync(current, expected)) return false;
      e.put(KEY.sync, next);
      return true;
    }));
  }

  async watch(onChange: (key: string) => void): Promise<() => Promise<void>> {
    this.#unwatch = this.env.etcd.watch(this.env.host, this.env.proc.gate(onChange));
    return async () => this.unwatch();
  }

  unwatch(): void {
    this.#unwatch?.();
    this.#unwatch = null;
  }

  async close(opts: { revokeLease: boolean }): Promise<void> {
    this.unwatch();
    const ids = this.#rotation.forget();
    this.#closed = true;
    if (!opts.revokeLease) return;
    for (const id of ids) {
      await this.#call('lease revoke', (e) => { e.revoke(Number(id)); return true; }).catch(() => undefined);
    }
  }
}
