// EtcdDcs: the runtime's `Dcs` port on etcd v3 (SPEC §2, DESIGN rules 1–2).
// Every method is one budget of retry_timeout (see calls.ts); writes that must not clobber a
// concurrent writer are etcd transactions comparing create_revision, mod_revision or value.
import type { Etcd3, ICompare, IRequestOp, ITxnRequest, ITxnResponse, KVClient, WatchClient } from 'etcd3';
import type { DynamicConfig, TlsFiles } from '../config/types.js';
import type { FailoverRequest, HistoryRow, InitializeState, LeaderStatus, MemberRecord, SyncState } from '../core/types.js';
import type { Logger } from '../log.js';
import type { AcquireLeaderOptions, ClusterSnapshot, Dcs, LeaseRenewal } from '../ports/ports.js';
import { BadValueLog } from './bad-values.js';
import { absent, notModifiedAfter, onLease, revisionIs, valueIs } from './compare.js';
import type { Clock } from '../clock.js';
import { Budget, CallRunner, DcsError, type RequestObserver } from './calls.js';
import { createEtcdClient } from './client.js';
import { streamClients } from './stream-failures.js';
import { decodeCluster } from './cluster.js';
import {
  decodeHistory, decodeInitialize, decodeSync, encodeFailover, encodeHistory, encodeInitialize, encodeMember, encodeStatus,
  encodeSync, sameSync,
} from './codec.js';
import { encodeConfig } from './config-value.js';
import { ClusterKeys, KEY, MEMBERS_DIR, checkSegment } from './keys.js';
import { EtcdLease } from './lease.js';
import { rebindKeys } from './rebind.js';
import { PrefixWatch } from './watch.js';

export interface EtcdDcsOptions {
  /** "host:port" or "http(s)://host:port"; every host is tried. */
  hosts: string[];
  /** Key prefix root, default "/pgwarden"; slashes are normalised. */
  namespace?: string;
  scope: string;
  /** This agent's member name. */
  name: string;
  /**
   * Deadline of every DCS operation (dynamic config `retry_timeout`, in ms). A function when it
   * follows the dynamic config at runtime; read at the start of each operation.
   */
  retryTimeoutMs: number | (() => number);
  /** Deadlines, timers and the lease renewal's send time. */
  clock: Clock;
  logger: Logger;
  auth?: { username: string; password: string };
  /** PEM files; without `ca` the system's roots are trusted. */
  tls?: TlsFiles;
  /** Told each operation's name ("read cluster", "lease keepalive"…) and duration in seconds. */
  onRequest?: RequestObserver;
}

/** How often appendHistory re-reads and retries when another writer changed `history` meanwhile. */
const HISTORY_CAS_ATTEMPTS = 5;

type Txn = ITxnRequest & { compare: ICompare[] };

export class EtcdDcs implements Dcs {
  readonly #client: Etcd3;
  readonly #kv: KVClient;
  readonly #watchClient: WatchClient;
  readonly #keys: ClusterKeys;
  readonly #name: string;
  readonly #retryTimeoutMs: () => number;
  readonly #runner: CallRunner;
  readonly #lease: EtcdLease;
  readonly #badValues: BadValueLog;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #watches = new Set<PrefixWatch>();
  #closed = false;

  constructor(o: EtcdDcsOptions) {
    checkSegment('member name', o.name);
    const retry = o.retryTimeoutMs;
    this.#retryTimeoutMs = typeof retry === 'function' ? retry : () => retry;
    if (!(this.#retryTimeoutMs() > 0)) throw new Error(`retryTimeoutMs must be positive, got ${this.#retryTimeoutMs()}`);
    this.#keys = new ClusterKeys(o.namespace ?? '/pgwarden', o.scope);
    this.#name = o.name;
    this.#clock = o.clock;
    this.#log = o.logger.child({ component: 'dcs' });
    this.#client = createEtcdClient({
      hosts: o.hosts, retryTimeoutMs: this.#retryTimeoutMs(), clock: o.clock,
      ...(o.auth ? { auth: o.auth } : {}), ...(o.tls ? { tls: o.tls } : {}),
    });
    this.#kv = this.#client.kv;
    this.#runner = new CallRunner(o.clock, o.hosts.length, o.onRequest);
    // Lease keepalives and watches are streams: their failures keep a slow host's connection.
    const streams = streamClients(this.#client);
    this.#watchClient = streams.watches;
    this.#lease = new EtcdLease(streams.leases, this.#runner, o.clock, (from, to, budget) => this.#rebind(from, to, budget), this.#log);
    this.#badValues = new BadValueLog(this.#log);
  }

  /** Our current lease ID (decimal string), or null before the first renewal / after loss. */
  get leaseId(): string | null {
    return this.#lease.id;
  }

  async readCluster(): Promise<ClusterSnapshot> {
    const res = await this.#run('read cluster', this.#budget(), (opts) =>
      this.#kv.range({ key: this.#keys.prefixBuf, range_end: this.#keys.rangeEnd }, opts), true);
    return decodeCluster(res.kvs, Number(res.header.revision), {
      keys: this.#keys, name: this.#name, leaseId: this.#lease.id, badValues: this.#badValues,
    });
  }

  async renewLease(ttlSeconds: number): Promise<LeaseRenewal> {
    this.#checkOpen();
    return this.#lease.renew(this.#budget(), ttlSeconds);
  }

  /** Move our keys (leader, member, bootstrap claim) from lease `from` to `to` (see rebind.ts). */
  #rebind(from: string, to: string, budget: Budget): Promise<void> {
    return rebindKeys({
      name: this.#name, keys: this.#keys, from, to,
      txn: (what, req) => this.#run(what, budget, (opts) => this.#kv.txn(req, opts), true),
    });
  }


  async acquireLeader(opts: AcquireLeaderOptions = {}): Promise<boolean> {
    const lease = this.#requireLease();
    const key = this.#keys.key(KEY.leader);
    const put: IRequestOp = { request_put: { key, value: Buffer.from(this.#name), lease } };
    // Ours on another lease (a previous run's): bind it to our current lease. Absent: create it.
    const take: Txn = {
      compare: [valueIs(key, this.#name)],
      success: [put],
      failure: [{ request_txn: { compare: [absent(key)], success: [put], failure: [] } }],
    };
    // In a race, only while the view it was decided on still holds: `status` and `history` (what
    // eligibility is judged against) not modified after it (an absent key's mod_revision is 0).
    // Otherwise read them and the leader key, to tell why we did not take it.
    const decided = opts.decidedAtRevision;
    const watched = [KEY.status, KEY.history] as const;
    const takeIfUnchanged: Txn | null = decided === undefined ? null : {
      compare: watched.map((k) => notModifiedAfter(this.#keys.key(k), decided)),
      success: [{ request_txn: take }],
      failure: [{ request_range: { key } }, ...watched.map((k) => ({ request_range: { key: this.#keys.key(k), keys_only: true } }))],
    };
    // Ours on our lease already (an earlier attempt got through): nothing to write, and no watch
    // event for everyone.
    const res = await this.#txn('acquire leader', {
      compare: [valueIs(key, this.#name), onLease(key, lease)],
      success: [],
      failure: [{ request_txn: takeIfUnchanged ?? take }],
    }, { idempotent: true, lease });
    if (res.succeeded) return true;
    const inner = res.responses[0]?.response_txn;
    if (decided === undefined) return tookLeader(inner);
    if (inner?.succeeded === true) return tookLeader(inner.responses[0]?.response_txn);
    // Not taken. Blame the view only when it is what stopped us: the key was free (or ours from a
    // previous run); another member's key is simply a lost race.
    const [leader, ...kvs] = (inner?.responses ?? []).map((r) => r.response_range?.kvs[0]);
    if (leader === undefined || leader.value.toString('utf8') === this.#name) {
      opts.onViewChanged?.(watched.flatMap((k, i) => {
        const rev = Number(kvs[i]?.mod_revision ?? 0);
        return rev > decided ? [{ key: k, modRevision: rev }] : [];
      }));
    }
    return false;
  }

  async releaseLeader(): Promise<boolean> {
    const key = this.#keys.key(KEY.leader);
    const res = await this.#txn('release leader', {
      compare: [valueIs(key, this.#name)],
      success: [{ request_delete_range: { key } }],
    }, { idempotent: false });
    return res.succeeded;
  }

  async deleteLeaderAt(revision: number): Promise<boolean> {
    const key = this.#keys.key(KEY.leader);
    const res = await this.#txn('delete invalid leader', {
      compare: [revisionIs(key, revision)],
      success: [{ request_delete_range: { key } }],
    }, { idempotent: true });
    return res.succeeded;
  }

  async touchMember(member: MemberRecord): Promise<void> {
    if (member.name !== this.#name) {
      throw new DcsError('rejected', `touchMember: record is for ${JSON.stringify(member.name)}, this agent is ${JSON.stringify(this.#name)}`);
    }
    await this.#put('touch member', MEMBERS_DIR + this.#name, encodeMember(member), this.#requireLease());
  }

  /**
   * The bootstrap claim is "" (SPEC §2) bound to our lease: it expires if we die before finishing,
   * and we recognise it as ours (same lease) if the answer to this request is lost.
   */
  async claimInitialize(): Promise<boolean> {
    const lease = this.#requireLease();
    const key = this.#keys.key(KEY.initialize);
    // 1. Our claim already (an earlier attempt got through): won. 2. Absent: create it.
    const res = await this.#txn('claim initialize', {
      compare: [valueIs(key, ''), onLease(key, lease)],
      success: [],
      failure: [{ request_txn: { compare: [absent(key)], success: [{ request_put: { key, value: Buffer.alloc(0), lease } }], failure: [] } }],
    }, { idempotent: true, lease });
    return res.succeeded || res.responses[0]?.response_txn?.succeeded === true;
  }

  async completeInitialize(systemId: string): Promise<void> {
    const lease = this.#requireLease();
    const key = this.#keys.key(KEY.initialize);
    const value = encodeInitialize(systemId);
    // A put without a lease detaches the key from ours: the cluster stays initialized for good.
    const res = await this.#txn('complete initialize', {
      compare: [valueIs(key, ''), onLease(key, lease)],
      success: [{ request_put: { key, value: Buffer.from(value) } }],
      failure: [{ request_range: { key } }],
    }, { idempotent: true });
    if (res.succeeded) return;
    const kv = res.responses[0]?.response_range?.kvs[0];
    const current = kv?.value.toString('utf8');
    if (current === value) return; // an earlier attempt of ours got through
    const held = current === undefined ? 'nothing' : current === '' ? `another lease's bootstrap claim (lease ${kv?.lease ?? '?'}, ours ${lease})` : JSON.stringify(current);
    throw new DcsError('rejected', `complete initialize: ${this.#keys.prefix}${KEY.initialize} holds ${held}, not our bootstrap claim — system identifier ${value} not recorded`);
  }

  async abandonInitialize(): Promise<InitializeState> {
    const key = this.#keys.key(KEY.initialize);
    const lease = this.#lease.id;
    const res = lease === null
      ? null // no lease: our claim, if any, went with the old one
      : await this.#txn('abandon initialize', {
        compare: [valueIs(key, ''), onLease(key, lease)],
        success: [{ request_delete_range: { key } }],
        failure: [{ request_range: { key } }],
      }, { idempotent: true });
    if (res?.succeeded) return { state: 'absent' };
    const kv = res ? res.responses[0]?.response_range?.kvs[0]
      : (await this.#run('read initialize', this.#budget(), (opts) => this.#kv.range({ key }, opts), true)).kvs[0];
    if (!kv) return { state: 'absent' };
    const raw = kv.value.toString('utf8');
    const d = decodeInitialize(raw);
    if (d.ok) return d.value;
    this.#badValues.bad(this.#keys.prefix + KEY.initialize, raw, d.reason);
    return { state: 'malformed' };
  }

  async initializeConfig(config: DynamicConfig): Promise<void> {
    const key = this.#keys.key(KEY.config);
    await this.#txn('initialize config', {
      compare: [absent(key)],
      success: [{ request_put: { key, value: Buffer.from(encodeConfig(config)) } }],
    }, { idempotent: true });
  }

  async writeConfig(config: DynamicConfig, expectedRevision: number): Promise<boolean> {
    const key = this.#keys.key(KEY.config);
    const res = await this.#txn('write config', {
      compare: [revisionIs(key, expectedRevision)],
      success: [{ request_put: { key, value: Buffer.from(encodeConfig(config)) } }],
    }, { idempotent: false });
    return res.succeeded;
  }

  /**
   * Publishes the leader's position, only while the leader key is ours on our current lease: a
   * demoted leader (paused, slow) must never overwrite the position its successor is judged by.
   * Resolves false, writing nothing, when the key is not ours.
   */
  async writeStatus(status: LeaderStatus): Promise<boolean> {
    const lease = this.#lease.id;
    if (lease === null) return false;
    const leader = this.#keys.key(KEY.leader);
    const res = await this.#txn('write status', {
      compare: [valueIs(leader, this.#name), onLease(leader, lease)],
      success: [{ request_put: { key: this.#keys.key(KEY.status), value: Buffer.from(encodeStatus(status)) } }],
    }, { idempotent: true });
    return res.succeeded;
  }

  async setFailover(request: FailoverRequest | null): Promise<void> {
    if (request !== null) {
      await this.#put('set failover', KEY.failover, encodeFailover(request));
      return;
    }
    await this.#run('clear failover', this.#budget(), (opts) =>
      this.#kv.deleteRange({ key: this.#keys.key(KEY.failover) }, opts), true);
  }

  /**
   * Read-modify-write with a CAS on mod_revision, re-read on a lost race. A row for a timeline
   * that is already recorded is not added again, so a retried append is harmless.
   */
  async appendHistory(row: HistoryRow): Promise<void> {
    const key = this.#keys.key(KEY.history);
    const budget = this.#budget();
    for (let i = 0; i < HISTORY_CAS_ATTEMPTS; i++) {
      const read = await this.#run('read history', budget, (opts) => this.#kv.range({ key }, opts), true);
      const kv = read.kvs[0];
      let rows: readonly HistoryRow[] = [];
      if (kv) {
        const raw = kv.value.toString('utf8');
        const d = decodeHistory(raw);
        if (d.ok) rows = d.value;
        else this.#badValues.bad(this.#keys.prefix + KEY.history, raw, `${d.reason} (it will be replaced)`);
      }
      if (rows.some((r) => r.timeline === row.timeline)) return;
      const res = await this.#txn('append history', {
        compare: [revisionIs(key, kv ? Number(kv.mod_revision) : 0)],
        success: [{ request_put: { key, value: Buffer.from(encodeHistory([...rows, row])) } }],
      }, { idempotent: true, budget });
      if (res.succeeded) return;
    }
    throw new DcsError('rejected', `append history: ${this.#keys.prefix}${KEY.history} changed under us ${HISTORY_CAS_ATTEMPTS} times`);
  }

  /**
   * CAS on the meaning of `sync` (same leader and standby set), applied with a CAS on its
   * mod_revision. Resolves true when `sync` now holds `next`; false when it held something other
   * than `expected` (a malformed value counts as absent).
   */
  async writeSync(next: SyncState, expected: SyncState | null): Promise<boolean> {
    const key = this.#keys.key(KEY.sync);
    const budget = this.#budget();
    const read = await this.#run('read sync', budget, (opts) => this.#kv.range({ key }, opts), true);
    const kv = read.kvs[0];
    const current = kv ? this.#decodeSync(kv.value) : null;
    if (sameSync(current, next)) return true;
    if (!sameSync(current, expected)) return false;
    const res = await this.#txn('write sync', {
      compare: [revisionIs(key, kv ? Number(kv.mod_revision) : 0)],
      success: [{ request_put: { key, value: Buffer.from(encodeSync(next)) } }],
      failure: [{ request_range: { key } }],
    }, { idempotent: true, budget });
    if (res.succeeded) return true;
    // Lost the race, or an earlier attempt of ours got through before its answer was lost.
    const now = res.responses[0]?.response_range?.kvs[0];
    return now !== undefined && sameSync(this.#decodeSync(now.value), next);
  }

  /**
   * Resolves once etcd confirmed the watch, or after retry_timeout while etcd is unreachable (the
   * watch then keeps trying in the background and resumes by itself; see watch.ts).
   */
  async watch(onChange: (key: string) => void): Promise<() => Promise<void>> {
    this.#checkOpen();
    const w = new PrefixWatch(this.#watchClient, this.#keys, onChange, {
      log: this.#log, clock: this.#clock, answerTimeoutMs: this.#retryTimeoutMs(),
    });
    this.#watches.add(w);
    await w.start(this.#retryTimeoutMs());
    return async () => {
      this.#watches.delete(w);
      await w.cancel();
    };
  }

  async close({ revokeLease }: { revokeLease: boolean }): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#watches].map((w) => w.cancel()));
    this.#watches.clear();
    if (revokeLease) {
      await this.#lease.revoke(this.#budget()).catch((e: unknown) => {
        this.#log.warn({ err: e }, 'could not revoke the etcd lease; its keys expire after the TTL');
      });
    }
    this.#client.close();
  }

  // -------------------------------------------------------------------------------------------

  #budget(): Budget {
    return this.#runner.budget(this.#retryTimeoutMs());
  }

  #checkOpen(): void {
    if (this.#closed) throw new DcsError('rejected', 'the etcd client is closed');
  }

  #run<T>(what: string, budget: Budget, call: (opts: { deadline: Date }) => Promise<T>, idempotent: boolean): Promise<T> {
    this.#checkOpen();
    return this.#runner.run(what, budget, call, { idempotent });
  }

  /** A transaction; `lease` names the lease its puts use (forgotten if etcd no longer knows it). */
  #txn(what: string, req: Txn, o: { idempotent: boolean; lease?: string; budget?: Budget }): Promise<ITxnResponse> {
    const p = this.#run(what, o.budget ?? this.#budget(), (opts) => this.#kv.txn(req, opts), o.idempotent);
    return o.lease === undefined ? p : this.#leased(o.lease, p);
  }

  /** A plain put of a key relative to the prefix, optionally on our lease. */
  #put(what: string, key: string, value: string, lease?: string): Promise<unknown> {
    const p = this.#run(what, this.#budget(), (opts) =>
      this.#kv.put({ key: this.#keys.key(key), value: Buffer.from(value), ...(lease ? { lease } : {}) }, opts), true);
    return lease === undefined ? p : this.#leased(lease, p);
  }

  /** A write on our lease failed because etcd no longer knows the lease: forget it. */
  async #leased<T>(lease: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      if (e instanceof DcsError && e.kind === 'no_lease') this.#lease.lost(lease);
      throw e;
    }
  }

  #requireLease(): string {
    this.#checkOpen();
    const id = this.#lease.id;
    if (id === null) throw new DcsError('no_lease', 'no etcd lease: renewLease() must succeed first');
    return id;
  }

  #decodeSync(value: Buffer): SyncState | null {
    const raw = value.toString('utf8');
    const d = decodeSync(raw);
    if (d.ok) return d.value;
    this.#badValues.bad(this.#keys.prefix + KEY.sync, raw, d.reason);
    return null;
  }
}

/** The answer to `take` in acquireLeader: rebound or created. */
function tookLeader(res: ITxnResponse | undefined): boolean {
  return res?.succeeded === true || res?.responses[0]?.response_txn?.succeeded === true;
}
