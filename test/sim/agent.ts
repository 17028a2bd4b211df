// A simulated pgwarden agent. It drives the REAL decision core (decide(), decideRace()) and
// mirrors, step by step, what agent/runtime does with each decision:
//   ha-loop.ts      run(): renew, start the lease keeper, watch, then cycle every loop_wait or at
//                   once on a watch wake; cycle(): read cluster → probe → decide → arm → act →
//                   probe → arm → publish → touch member
//   lease-keeper.ts renew every renewIntervalMs; afterRenewal(): deadline from the send time on
//                   this host's clock, fence at once on a re-granted lease while armed; a fence
//                   timer at the deadline while armed (independent of the loop)
//   actions.ts      each action's side effects, in the same order (withinLease() right before
//                   promote/start_primary; bootstrapRecord() after a failed bootstrap step)
//   race-runner.ts  ask every peer's /status (network, timeout), then decideRace()
//   sync-manager.ts rule 5 on the primary: the real planSync() carried out in the same order
//                   (unpublish → synchronous_standby_names → publish), the settle barrier, and
//                   the claim of `sync` before promoting
//   etcd-dcs.ts     the same etcd transactions (compare value / lease / create or mod revision)
// The code is generator-based (see proc.ts) so that a cycle, a lease renewal and the fence timer
// interleave exactly as their async counterparts would, with simulated time and failures.
import { decide } from '../../agent/core/decide.js';
import { decideRace } from '../../agent/core/race.js';
import { afterRenewal, renewIntervalMs, withinLease } from '../../agent/core/lease.js';
import { bootstrapRecord } from '../../agent/core/bootstrap.js';
import { planSync, syncBarsPromotion } from '../../agent/core/sync.js';
import { neverPromote } from '../../agent/core/eligibility.js';
import type {
  ClusterView, Decision, HaSettings, HistoryRow, InitializeState, LeaderStatus, LocalView, PeerStatus, PgState,
  PgView, SyncState, Tags,
} from '../../agent/core/types.js';
import { memberRecord, pgStateOf, type Identity } from '../../agent/runtime/member-record.js';
import { newSyncBarrier, type SyncBarrier } from '../../agent/runtime/sync-manager.js';
import type { AcquireLeaderOptions, ViewChange } from '../../agent/ports/ports.js';
import { toPeerStatus } from '../../agent/api/peer-client.js';
import type { HostClock, Scheduler } from './clock.js';
import { KEY, decodeCluster, sameSync, type SimEtcd, type Snapshot } from './etcd.js';
import type { Host, Network } from './network.js';
import type { SimPostgres } from './postgres.js';
import { Proc, SimFailure, TaskAbort, join, perform, spawn, type Co, type Task, type Timer } from './proc.js';
import type { Rng } from './rng.js';
import type { Trace } from './trace.js';

/** Keys whose change wakes the loop at once ('' = the watch may have missed changes). */
const WAKE_KEYS = /^(leader|config|failover|initialize|sync|)$/;
/** sync-manager.ts SETTLE_MS: the position is measured this long after the setting changed. */
const SYNC_SETTLE_MS = 100;
/** Actions that may take seconds: the member key is published before them. */
const LONG_ACTIONS: ReadonlySet<string> = new Set([
  'initialize_cluster', 'clone_from_leader', 'rebuild', 'start_replica', 'start_primary', 'rewind',
]);

export interface AgentEnv {
  readonly sched: Scheduler;
  readonly net: Network;
  readonly etcd: SimEtcd;
  readonly trace: Trace;
  readonly rng: Rng;
  readonly settings: HaSettings;
  /** Wall-clock epoch ms at global time 0 (display and history timestamps only). */
  readonly wallEpochMs: number;
  agent(name: string): SimAgent | undefined;
  /** Every decision, for statistics. */
  decided(agent: SimAgent, d: Decision): void;
  /** A refuse_start or other fatal stop: the simulator treats it as a failure. */
  fatal(agent: SimAgent, why: string): void;
  /** The agent just sent the etcd operation `what` (scenario triggers). */
  requestSent(agent: SimAgent, what: string): void;
  /** A `status` write reached etcd; `holder` is who the leader key named then. */
  statusWritten(writer: string, holder: string | null): void;
  readonly sabotage: ReadonlySet<string>;
}

/** What the agent's REST API answers from (a subset of NodeState). */
export interface Published {
  pg: PgView;
  pgState: PgState;
  cluster: ClusterView | null;
  leaseDeadline: number | null;
  lastCycleAt: number | null;
}

/** The runtime's FatalAgentError: the agent process exits. */
class AgentFatal extends TaskAbort {}

/** An etcd request refused (not lost): the DCS adapter's DcsError 'no_lease' / 'rejected'. */
class EtcdRefusal {
  constructor(readonly kind: 'no_lease' | 'rejected', readonly message: string) {}
}

export const UNKNOWN_PG: PgView = {
  dataDir: 'empty', process: 'stopped', role: null, systemId: null, timeline: null, walLsn: null,
  receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState: 'unknown', checkpointLsn: null,
};

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

interface LeaseState {
  deadline: number | null;
  armed: boolean;
  failures: number;
  renewTimer: Timer | null;
  fenceTimer: Timer | null;
  inFlight: Task<boolean> | null;
  stopped: boolean;
}

export class SimAgent {
  readonly proc: Proc;
  readonly host: Host;
  readonly identity: Identity;
  published: Published = { pg: UNKNOWN_PG, pgState: 'stopped', cluster: null, leaseDeadline: null, lastCycleAt: null };
  lastDecision: Decision | null = null;

  // Per-incarnation state (a restarted agent starts from scratch, like the real process).
  #leaseId: number | null = null;
  #cluster: ClusterView | null = null;
  #holdsKey = false;
  /** `initialize` holds the bootstrap claim on our current lease (ClusterSnapshot.initializeIsOurs). */
  #holdsClaim = false;
  #pgDownSince: number | null = null;
  #notStreamingSince: number | null = null;
  #rewindFailed = false;
  #activity: PgState | null = null;
  #wakeRequested = false;
  #wake: (() => void) | null = null;
  #lastStatus: LeaderStatus | null = null;
  #lastRule: string | null = null;
  #unwatch: (() => void) | null = null;
  #lease: LeaseState = SimAgent.#freshLease();
  /** sync-manager.ts Barrier: when synchronous_standby_names changed, and the position after. */
  #barrier: SyncBarrier = newSyncBarrier();

  constructor(
    readonly name: string,
    readonly tags: Tags,
    readonly pg: SimPostgres,
    readonly clock: HostClock,
    private readonly env: AgentEnv,
  ) {
    this.proc = new Proc(env.sched, clock);
    this.host = pg.host;
    this.identity = { name, apiUrl: `http://${name}:8008/`, host: name, port: 5432, tags };
  }

  static #freshLease(): LeaseState {
    return { deadline: null, armed: false, failures: 0, renewTimer: null, fenceTimer: null, inFlight: null, stopped: true };
  }

  get settings(): HaSettings {
    return this.env.settings;
  }

  /** The lease deadline the agent believes in (rule 2), for the invariant checks. */
  get leaseDeadlineNow(): number | null {
    return this.#lease.deadline;
  }

  get holdsKey(): boolean {
    return this.#holdsKey;
  }

  /** Our current etcd lease (null before the first grant or after losing it). */
  get leaseId(): number | null {
    return this.#leaseId;
  }

  #log(what: string, quiet = false): void {
    this.env.trace.log(this.name, what, quiet);
  }

  // --- process lifecycle ---------------------------------------------------------------------

  boot(): void {
    this.proc.boot();
    this.#leaseId = null;
    this.#cluster = null;
    this.#holdsKey = false;
    this.#holdsClaim = false;
    this.#pgDownSince = null;
    this.#notStreamingSince = null;
    this.#rewindFailed = false;
    this.#activity = null;
    this.#wakeRequested = false;
    this.#wake = null;
    this.#lastStatus = null;
    this.#lastRule = null;
    this.#lease = SimAgent.#freshLease();
    this.#barrier = newSyncBarrier();
    this.published = { pg: UNKNOWN_PG, pgState: 'stopped', cluster: null, leaseDeadline: null, lastCycleAt: null };
    this.lastDecision = null;
    this.pg.onUnexpectedExit = this.proc.gate(() => {
      this.#log('PostgreSQL exited unexpectedly');
      this.#wakeUp();
    });
    this.#log('agent started');
    spawn(this.proc, this.#run());
  }

  kill(): void {
    this.proc.kill();
    this.#unwatch?.();
    this.#unwatch = null;
  }

  #wakeUp(): void {
    this.#wakeRequested = true;
    this.#wake?.();
  }

  // --- the HA loop (ha-loop.ts) ---------------------------------------------------------------

  *#run(): Co<void> {
    yield* this.#renewNow();
    this.#leaseStart();
    const inc = this.proc.incarnation;
    this.#unwatch = this.env.etcd.watch(this.host, (key) => {
      if (this.proc.incarnation !== inc) return;
      this.proc.post(() => {
        if (WAKE_KEYS.test(key)) this.#wakeUp();
      });
    });
    for (;;) {
      this.#wakeRequested = false;
      try {
        yield* this.#cycle();
      } catch (err) {
        if (err instanceof AgentFatal) {
          this.#log(`FATAL: ${err.message}`);
          this.env.fatal(this, err.message);
          this.kill();
          return;
        }
        if (!(err instanceof SimFailure)) throw err;
        this.#log(`HA cycle failed: ${err.message}`);
      }
      if (!this.#wakeRequested) yield* this.#nap(this.settings.loopWaitMs);
    }
  }

  *#nap(ms: number): Co<void> {
    yield (resume) => {
      const t = this.proc.timer(ms, () => resume(undefined));
      this.#wake = () => {
        this.#wake = null;
        t.cancel();
        resume(undefined);
      };
    };
    this.#wake = null;
  }

  *#cycle(): Co<Decision> {
    const snap = yield* this.#readCluster();
    const pg = yield* this.#probe();
    this.#track(pg);
    const local: LocalView = {
      name: this.name,
      tags: this.tags,
      now: this.clock.now(),
      dcsReachable: this.#lastReadOk,
      leaseDeadline: this.#lease.deadline,
      holdsLeaderKey: this.#holdsKey,
      holdsInitializeClaim: this.#holdsClaim,
      pg,
      pgDownSince: this.#pgDownSince,
      notStreamingSince: this.#notStreamingSince,
      cleanHandover: false,
      wallNow: this.env.wallEpochMs + this.env.sched.now,
      rewindFailed: this.#rewindFailed,
    };
    let decision = decide(this.#cluster, local, this.settings);
    if (this.env.sabotage.has('race-when-ineligible') && decision.rule === 'leaderless.ineligible') {
      decision = { action: { kind: 'race' }, reason: `SABOTAGE: racing although ${decision.reason}`, rule: 'sabotage.race' };
    }
    this.lastDecision = decision;
    this.env.decided(this, decision);
    this.#logDecision(decision);
    this.#publish(decision, pg);
    this.#arm(pg.process === 'running' && pg.role === 'primary' && !this.#cluster?.paused);
    if (decision.action.kind === 'refuse_start') throw new AgentFatal(decision.reason);
    if (LONG_ACTIONS.has(decision.action.kind)) yield* this.#touchMember(pg);
    try {
      yield* this.#execute(decision, this.#cluster, snap?.revision ?? null, local);
    } finally {
      const after = decision.action.kind === 'none' || decision.action.kind === 'wait' ? pg : yield* this.#probe();
      this.#track(after);
      this.#arm(after.process === 'running' && after.role === 'primary' && !this.#cluster?.paused);
      this.#publish(decision, after);
      yield* this.#touchMember(after);
    }
    return decision;
  }

  #lastReadOk = false;

  *#readCluster(): Co<Snapshot | null> {
    try {
      const snap = yield* this.#dcs('read cluster', (e) => decodeCluster(e.range(), e.revision));
      this.#cluster = snap.view;
      this.#holdsKey = snap.view.leader === this.name && snap.leaderLease !== null && snap.leaderLease === this.#leaseId;
      this.#holdsClaim = snap.view.initialize.state === 'bootstrapping' && snap.initializeLease !== null && snap.initializeLease === this.#leaseId;
      this.#lastReadOk = true;
      return snap;
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err;
      this.#lastReadOk = false;
      this.#log(`could not read the cluster: ${err.message}`, true);
      return null;
    }
  }

  #track(pg: PgView): void {
    const now = this.clock.now();
    const down = pg.dataDir === 'initialized' && (pg.process === 'stopped' || pg.process === 'crashed');
    this.#pgDownSince = down ? (this.#pgDownSince ?? now) : null;
    const lagging = pg.process === 'running' && pg.role === 'replica' && !pg.streaming;
    this.#notStreamingSince = lagging ? (this.#notStreamingSince ?? now) : null;
  }

  #logDecision(d: Decision): void {
    const steady = d.action.kind === 'none' || d.action.kind === 'renew_leader' || d.action.kind === 'wait';
    const quiet = steady && d.rule === this.#lastRule;
    this.#lastRule = d.rule;
    this.#log(`decide ${d.rule} → ${d.action.kind}: ${d.reason}`, quiet);
  }

  #publish(decision: Decision | null, pg?: PgView): void {
    const pgView = pg ?? this.published.pg;
    this.published = {
      pg: pgView,
      pgState: pgStateOf(pgView, this.#activity),
      cluster: this.#cluster,
      leaseDeadline: this.#holdsKey ? this.#lease.deadline : null,
      lastCycleAt: decision ? this.clock.now() : this.published.lastCycleAt,
    };
  }

  *#touchMember(pg: PgView): Co<void> {
    const record = memberRecord(this.identity, pg, pgStateOf(pg, this.#activity));
    try {
      yield* this.#leasedPut('touch member', KEY.member(this.name), record);
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err;
      this.#log(`could not publish my member key: ${err.message}`, true);
    }
  }

  // --- the lease keeper (lease-keeper.ts) ------------------------------------------------------

  #leaseStart(): void {
    this.#lease.stopped = false;
    this.#leaseSchedule(renewIntervalMs(this.settings));
  }

  #leaseSchedule(delay: number): void {
    const lk = this.#lease;
    if (lk.stopped) return;
    lk.renewTimer?.cancel();
    lk.renewTimer = this.proc.timer(delay, () => {
      const task = spawn(this.proc, this.#renew());
      lk.inFlight = task;
      task.onDone(() => {
        if (lk.inFlight === task) lk.inFlight = null;
        this.#leaseSchedule(renewIntervalMs(this.settings));
      });
    });
  }

  *#renewNow(): Co<boolean> {
    const inFlight = this.#lease.inFlight;
    if (inFlight) yield* join(inFlight);
    return yield* this.#renew();
  }

  *#renew(): Co<boolean> {
    const lk = this.#lease;
    try {
      const r = yield* this.#renewLease();
      const epoch = this.#leaseId ?? 0;
      const effect = afterRenewal(lk.deadline === null ? null : { deadline: lk.deadline, epoch }, { ...r, ttlMs: this.settings.ttlMs, epoch }, lk.armed);
      if (effect.fenceNow && !this.env.sabotage.has('no-fence')) {
        this.#log('etcd lease expired and was re-granted while primary: FENCING PostgreSQL');
        spawn(this.proc, this.#fence());
      }
      lk.deadline = effect.deadline;
      lk.failures = 0;
      this.#scheduleFence();
      if (this.#holdsKey) this.published = { ...this.published, leaseDeadline: lk.deadline };
      if (r.newLease) {
        // onNewLease: keys on the old lease (leader key, bootstrap claim) went with it.
        this.#holdsKey = false;
        this.#holdsClaim = false;
        this.#wakeUp();
      }
      return true;
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err;
      lk.failures++;
      this.#log(`lease renewal failed (${lk.failures}): ${err.message}`, true);
      return false;
    }
  }

  #arm(armed: boolean): void {
    if (this.#lease.armed === armed) return;
    this.#lease.armed = armed;
    this.#scheduleFence();
  }

  #scheduleFence(): void {
    const lk = this.#lease;
    lk.fenceTimer?.cancel();
    lk.fenceTimer = null;
    if (!lk.armed || lk.stopped || this.env.sabotage.has('no-fence')) return;
    const delay = lk.deadline === null ? 0 : Math.max(0, lk.deadline - this.clock.now());
    lk.fenceTimer = this.proc.timer(delay, () => {
      lk.fenceTimer = null;
      if (!lk.armed) return;
      if (lk.deadline !== null && this.clock.now() < lk.deadline) {
        this.#scheduleFence();
        return;
      }
      this.#log('lease deadline reached without a successful renewal: FENCING PostgreSQL now');
      spawn(this.proc, this.#fence());
    });
  }

  *#fence(): Co<void> {
    try {
      yield* this.#pgStop('immediate');
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err;
      this.#log(`fencing stop failed: ${err.message}`);
    }
    this.#wakeUp();
  }

  // --- actions (actions.ts) --------------------------------------------------------------------

  #leaseValidNow(): boolean {
    return withinLease(this.#lease.deadline, this.clock.now());
  }

  #upstreamOf(cluster: ClusterView | null, name: string): string {
    const m = cluster?.members.find((x) => x.name === name);
    if (!m) throw new SimFailure(`leader ${name} has no member key; cannot reach its PostgreSQL`);
    return m.name;
  }

  *#execute(d: Decision, cluster: ClusterView | null, clusterRevision: number | null, local: LocalView): Co<void> {
    const a = d.action;
    switch (a.kind) {
      case 'none':
      case 'wait':
      case 'stand_down':
        return;
      case 'refuse_start':
        throw new AgentFatal(d.reason);
      case 'initialize_cluster':
        return yield* this.#initializeCluster(local);
      case 'clone_from_leader':
        return yield* this.#rebuild(this.#upstreamOf(cluster, a.leader), false);
      case 'rebuild':
        return yield* this.#rebuild(this.#upstreamOf(cluster, a.leader), true);
      case 'start_replica':
        yield* this.#pgConfigure(a.leader ? this.#upstreamOf(cluster, a.leader) : null);
        return yield* this.#withActivity('starting', this.#pgStart());
      case 'start_primary':
        if (!this.#leaseValidNow()) {
          this.#log('lease deadline passed; not starting as primary');
          return;
        }
        this.#arm(true);
        yield* this.#pgConfigure(undefined);
        return yield* this.#withActivity('starting', this.#pgStart());
      case 'renew_leader':
        return yield* this.#publishLeaderState(cluster, local);
      case 'race':
        return yield* this.#race(cluster!, clusterRevision, local);
      case 'acquire_leader':
        yield* this.#renewNow();
        if (!(yield* this.#acquireLeader())) this.#log('could not take the leader key back');
        return;
      case 'promote':
        return yield* this.#promote(cluster, local, d.reason);
      case 'fence':
        this.#arm(false);
        if (this.env.sabotage.has('no-fence')) return;
        yield* this.#pgStop('immediate');
        return;
      case 'follow': {
        const to = this.#upstreamOf(cluster, a.leader);
        return yield* this.#pgCall<void>('follow', (done) => this.pg.follow(to, done));
      }
      case 'rewind':
        return yield* this.#rewind(this.#upstreamOf(cluster, a.leader), local);
      case 'release_leader':
        yield* this.#releaseLeader();
        return;
      default:
        throw new SimFailure(`action ${a.kind} is not modelled by the simulator`);
    }
  }

  *#withActivity(state: PgState, work: Co<void>): Co<void> {
    this.#activity = state;
    this.#publish(null);
    try {
      yield* work;
    } finally {
      this.#activity = null;
      this.#publish(null);
    }
  }

  *#initializeCluster(local: LocalView): Co<void> {
    if (!(yield* this.#claimInitialize())) {
      this.#log('another member won the bootstrap race');
      return;
    }
    const fresh = local.pg.dataDir === 'empty';
    this.#log(fresh ? 'won the bootstrap race: running initdb' : 'won the bootstrap race: starting my existing data as primary');
    try {
      const self = this;
      yield* this.#withActivity('starting', (function* (): Co<void> {
        if (fresh) yield* self.#pgCall<void>('initdb', (done) => self.pg.initdb(done));
        yield* self.#pgConfigure(undefined);
        yield* self.#pgStart();
        if (fresh) yield* self.#sleep(self.env.rng.int(20, 80)); // postBootstrap: roles and passwords
      })());
      const probe = yield* this.#probe();
      if (!probe.systemId) throw new SimFailure('bootstrapped PostgreSQL reports no system identifier');
      yield* this.#dcs('initialize config', (e) => e.txn(() => {
        if (!e.get(KEY.config)) e.put(KEY.config, 'bootstrap config');
      }));
      yield* this.#renewNow();
      if (!(yield* this.#acquireLeader())) throw new SimFailure('could not take the leader key after bootstrap');
      this.#arm(true);
      const systemId = probe.systemId;
      const lease = this.#requireLease();
      yield* this.#dcs('complete initialize', (e) => e.txn(() => {
        const kv = e.get(KEY.initialize);
        if (kv?.value === '' && kv.lease === lease) {
          e.put(KEY.initialize, systemId); // no lease: initialized for good
          return true;
        }
        return kv?.value === systemId ? true : new EtcdRefusal('rejected', `initialize holds ${kv ? `${JSON.stringify(kv.value)} on lease ${String(kv.lease)}` : 'nothing'}, not our bootstrap claim`);
      }));
      this.#log('cluster bootstrapped; I am the leader');
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err;
      yield* this.#afterFailedBootstrap(fresh, err);
      throw err;
    }
  }

  /** actions.ts afterFailedBootstrap: keep what etcd records (or may record); else give it back. */
  *#afterFailedBootstrap(fresh: boolean, err: SimFailure): Co<void> {
    const recorded = (yield* this.#swallow(this.#dcs('read cluster', (e) => decodeCluster(e.range(), e.revision))))?.view.initialize ?? null;
    const mine = (yield* this.#probe()).systemId;
    const outcome = bootstrapRecord(recorded, mine);
    if (outcome !== 'not_recorded') {
      this.#log(outcome === 'recorded'
        ? `bootstrap step failed after etcd recorded our system identifier; keeping the data directory: ${err.message}`
        : `bootstrap step failed and we cannot tell whether etcd recorded our system identifier; keeping everything as it is: ${err.message}`);
      return;
    }
    this.#log(`bootstrap failed; giving the race back: ${err.message}`);
    this.#arm(false);
    yield* this.#swallow(this.#pgStop('immediate'));
    yield* this.#swallow(this.#releaseLeader());
    const after = (yield* this.#swallow(this.#abandonInitialize())) ?? null;
    if (!fresh) return;
    if (bootstrapRecord(after, mine) === 'not_recorded') {
      yield* this.#swallow(this.#pgCall<void>('remove data dir', (done) => this.pg.removeDataDir(done)));
      return;
    }
    this.#log('could not make sure etcd will not record this bootstrap after all; keeping the data directory');
  }

  /** etcd-dcs.ts abandonInitialize: delete our own claim; what `initialize` holds afterwards. */
  *#abandonInitialize(): Co<InitializeState> {
    const lease = this.#leaseId;
    return yield* this.#dcs('abandon initialize', (e) => e.txn(() => {
      const kv = e.get(KEY.initialize);
      if (lease !== null && kv?.value === '' && kv.lease === lease) e.del(KEY.initialize);
      return decodeCluster(e.range(), e.revision).view.initialize;
    }));
  }

  *#rebuild(from: string, wipe: boolean): Co<void> {
    const self = this;
    yield* this.#withActivity('creating replica', (function* (): Co<void> {
      if (wipe) {
        yield* self.#pgStop('fast');
        yield* self.#pgCall<void>('remove data dir', (done) => self.pg.removeDataDir(done));
      }
      yield* self.#pgCall<void>('basebackup', (done) => self.pg.basebackup(from, done));
    })());
    this.#rewindFailed = false;
    yield* this.#pgConfigure(from);
    yield* this.#withActivity('starting', this.#pgStart());
  }

  *#rewind(from: string, local: LocalView): Co<void> {
    let outcome: 'rewound' | 'not_needed' | 'failed' = 'failed';
    const self = this;
    yield* this.#withActivity('rewinding', (function* (): Co<void> {
      if (local.pg.process === 'running') yield* self.#pgStop('fast');
      outcome = yield* self.#pgCall<'rewound' | 'not_needed' | 'failed'>('rewind', (done) => self.pg.rewind(from, done));
    })());
    this.#log(`pg_rewind against ${from}: ${outcome}`);
    if (outcome === 'failed') {
      this.#rewindFailed = true;
      return;
    }
    this.#rewindFailed = false;
    yield* this.#pgConfigure(from);
    yield* this.#withActivity('starting', this.#pgStart());
  }

  *#race(cluster: ClusterView, decidedAt: number | null, local: LocalView): Co<void> {
    if (decidedAt === null) {
      this.#log('no cluster view read from etcd in this cycle; not racing');
      return;
    }
    const peers = yield* this.#askPeers(cluster, Math.min(1000, this.settings.retryTimeoutMs));
    const pg = local.pg;
    const walLsn = pg.role === 'primary' ? pg.walLsn : maxOf(pg.receivedLsn, pg.replayedLsn);
    const decision = decideRace({ name: this.name, tags: this.tags, walLsn, peers, cluster, settings: this.settings });
    this.env.decided(this, decision);
    this.#log(`race ${decision.rule} → ${decision.action.kind}: ${decision.reason}`);
    if (decision.action.kind !== 'acquire_leader') return;
    // Fresh lease first, so our deadline as the new primary starts now, not at the last renewal.
    if (!(yield* this.#renewNow())) {
      this.#log('lease renewal failed right before the race; not racing');
      return;
    }
    // Rule 4 was judged on the view of revision `decidedAt`: take the key only if `status` and
    // `history` are as we judged them (same transaction).
    let changed: readonly ViewChange[] = [];
    if (!(yield* this.#acquireLeader({ decidedAtRevision: decidedAt, onViewChanged: (c) => { changed = c; } }))) {
      if (changed.length === 0) {
        this.#log('lost the race for the leader key');
        return;
      }
      const what = changed.map((c) => `${c.key} modified at revision ${c.modRevision}`).join(', ');
      this.#log(`the cluster changed since I decided (${what} > ${decidedAt}); deciding again`);
      this.#wakeUp();
      return;
    }
    this.#log('WON the race for the leader key');
    // ctx.setHoldsKey(true): health answers may say so before the next read.
    this.#holdsKey = true;
    if (this.#cluster) this.#cluster = { ...this.#cluster, leader: this.name };
    if (local.pg.role === 'primary') {
      this.#arm(true);
      return yield* this.#publishLeaderState(cluster, local);
    }
    return yield* this.#promote(cluster, local, decision.reason);
  }

  *#promote(cluster: ClusterView | null, local: LocalView, reason: string): Co<void> {
    const before = local.pg.timeline ?? 0;
    const at = local.pg.replayedLsn ?? local.pg.receivedLsn ?? 0;
    if (!(yield* this.#claimSyncBeforePromote(cluster))) {
      // Our view of `sync` was stale: do not sit on the key (the next cycle decides afresh).
      yield* this.#releaseLeader();
      this.#holdsKey = false;
      this.#log('gave the leader key back: the next cycle decides afresh');
      return;
    }
    // Rule 2 at the moment of acting: never become writable past our lease deadline, and arm the
    // fence timer before PostgreSQL can accept a write.
    if (!this.#leaseValidNow()) {
      this.#log('lease deadline passed before promoting; not promoting');
      return;
    }
    this.#arm(true);
    yield* this.#pgCall<void>('promote', (done) => this.pg.promote(done));
    this.#arm(true);
    const after = yield* this.#probe();
    yield* this.#publishLeaderState(cluster, { ...local, pg: after });
    const row: HistoryRow = {
      timeline: before, lsn: at, reason, timestamp: new Date(this.env.wallEpochMs + this.env.sched.now).toISOString(), newLeader: this.name,
    };
    yield* this.#swallow(this.#dcs('append history', (e) => e.txn(() => {
      const rows = (e.get(KEY.history)?.value as HistoryRow[] | undefined) ?? [];
      if (!rows.some((r) => r.timeline === row.timeline)) e.put(KEY.history, [...rows, row]);
    })));
    if (cluster?.failover) yield* this.#swallow(this.#dcs('clear failover', (e) => e.del(KEY.failover)));
  }

  /** The leader's per-cycle duties: publish its position (slots are not modelled). */
  *#publishLeaderState(cluster: ClusterView | null, local: LocalView): Co<void> {
    const pg = local.pg;
    // A leader whose lease deadline passed (paused, slow) may have been replaced: it must not
    // overwrite the new leader's position, which eligibility is judged against.
    if (pg.walLsn !== null && pg.timeline !== null && this.#leaseValidNow()) {
      const next: LeaderStatus = { optime: pg.walLsn, timeline: pg.timeline };
      const last = this.#lastStatus;
      if (!last || last.optime !== next.optime || last.timeline !== next.timeline) {
        const name = this.name;
        const lease = this.#leaseId;
        // EtcdDcs.writeStatus: a transaction on the leader key naming us, on our current lease.
        const written = yield* this.#dcs('write status', (e) => {
          const leader = e.get(KEY.leader);
          if (lease === null || leader?.value !== name || leader.lease !== lease) return false;
          this.env.statusWritten(name, typeof leader.value === 'string' ? leader.value : null);
          e.put(KEY.status, next);
          return true;
        });
        if (written) this.#lastStatus = next;
      }
    }
    if (cluster && (this.settings.synchronousMode || cluster.sync?.leader === this.name)) yield* this.#manageSync(cluster);
  }

  // --- synchronous replication (sync-manager.ts) -----------------------------------------------

  /** manageSync(): the real planSync(), carried out as unpublish → ssn → publish. */
  *#manageSync(cluster: ClusterView): Co<void> {
    const current: SyncState | null = cluster.sync;
    let published = current?.leader === this.name ? [...current.syncStandbys] : [];
    const b = this.#barrier;
    if (this.settings.synchronousMode && b.lsn === null && (b.changedAt === null || this.clock.now() - b.changedAt >= SYNC_SETTLE_MS)) {
      b.lsn = (yield* this.#probe()).walLsn;
    }
    yield* this.#sleep(this.env.rng.int(1, 4)); // SELECT … FROM pg_stat_replication
    const rows = this.pg.replication();
    const others = cluster.members.filter((m) => m.name !== this.name && !m.tags.nosync);
    const plan = planSync({
      enabled: this.settings.synchronousMode,
      strict: this.settings.synchronousModeStrict,
      count: 1,
      published,
      streaming: rows.filter((r) => r.state === 'streaming').map((r) => ({ name: r.application_name, lsn: r.replay_lsn })),
      candidates: new Set(others.map((m) => m.name)),
      pgSync: rows.filter((r) => r.sync_state === 'sync' || r.sync_state === 'quorum').map((r) => r.application_name),
      unpromotable: new Set(others.filter((m) => neverPromote(m.tags) !== null).map((m) => m.name)),
      caughtUpTo: b.lsn,
    });
    let expected: SyncState | null = current;
    if (plan.unpublish) {
      const next: SyncState = { leader: this.name, syncStandbys: [...plan.unpublish] };
      if (!(yield* this.#writeSync(next, expected))) {
        this.#log('sync: lost the compare-and-swap on sync; retrying next cycle');
        return;
      }
      this.#log(`sync: unpublished ${published.filter((n) => !plan.unpublish!.includes(n)).join(',')} (sync now [${next.syncStandbys.join(',')}])`);
      expected = next;
      published = [...plan.unpublish];
    }
    const changed = yield* this.#pgSetSsn(plan.ssn);
    if (changed) {
      this.#barrier = { changedAt: this.clock.now(), lsn: null };
      this.#log(`sync: synchronous_standby_names = '${plan.ssn}' (${plan.state})`);
    } else if (plan.publish) {
      const next: SyncState = { leader: this.name, syncStandbys: [...plan.publish] };
      if (yield* this.#writeSync(next, expected)) this.#log(`sync: published [${next.syncStandbys.join(',')}]`);
      else this.#log('sync: lost the compare-and-swap on sync; retrying next cycle');
    }
  }

  /** claimSyncBeforePromote(): take over `sync` (CAS) before promoting; on failure postpone. */
  *#claimSyncBeforePromote(cluster: ClusterView | null): Co<boolean> {
    if (!this.settings.synchronousMode) return true;
    const barred = syncBarsPromotion(this.name, cluster);
    if (barred) {
      this.#log(`not promoting: ${barred}; releasing the leader key`);
      yield* this.#swallow(this.#releaseLeader());
      return false;
    }
    const next: SyncState = { leader: this.name, syncStandbys: [] };
    if (!(yield* this.#writeSync(next, cluster?.sync ?? null))) {
      this.#log('postponing promotion: lost the compare-and-swap on sync');
      return false;
    }
    if (yield* this.#pgSetSsn(this.settings.synchronousModeStrict ? '*' : '')) this.#barrier = { changedAt: this.clock.now(), lsn: null };
    return true;
  }

  *#pgSetSsn(ssn: string): Co<boolean> {
    return yield* this.#pgCall<boolean>('set synchronous_standby_names', (done) => this.pg.setSynchronousStandbyNames(ssn, done));
  }

  // --- peers (race-runner.ts, api/peer-client.ts) ----------------------------------------------

  *#askPeers(cluster: ClusterView, timeoutMs: number): Co<PeerStatus[]> {
    const peers = cluster.members.filter((m) => m.name !== this.name && m.apiUrl);
    if (peers.length === 0) return [];
    const results = yield (resume) => {
      const out: PeerStatus[] = new Array<PeerStatus>(peers.length);
      let left = peers.length;
      peers.forEach((m, i) => {
        let settled = false;
        const settle = (p: PeerStatus): void => {
          if (settled) return;
          settled = true;
          out[i] = p;
          if (--left === 0) resume(out);
        };
        const t = this.proc.timer(timeoutMs, () => settle(unreachable(m.name)));
        this.#apiRequest(m.name, (peer) => peer.statusDocument(), (doc) => {
          t.cancel();
          this.proc.post(() => settle(toPeerStatus(m.name, doc)));
        });
      });
    };
    return results as PeerStatus[];
  }

  /** Send an HTTP request to another agent's API; `reply` runs on arrival of its answer. */
  #apiRequest<T>(peerName: string, handle: (peer: SimAgent) => T, reply: (r: T) => void): void {
    const peer = this.env.agent(peerName);
    if (!peer) return;
    this.env.net.send(this.host, peer.host, () => {
      // The peer's process answers when it runs (not if dead; later if frozen).
      peer.proc.gate(() => {
        const r = handle(peer);
        this.env.net.send(peer.host, this.host, () => reply(r));
      })();
    });
  }

  /** GET /status, the parts a peer reads (api/status-doc.ts buildStatusDoc). */
  statusDocument(): unknown {
    const pg = this.published.pg;
    const role = pg.dataDir === 'empty'
      ? 'uninitialized'
      : pg.role ?? (['in production', 'shut down', 'shutting down'].includes(pg.controlState) ? 'primary' : 'replica');
    const xlog = pg.process !== 'running'
      ? undefined
      : role === 'primary'
        ? { location: pg.walLsn }
        : { received_location: pg.receivedLsn, replayed_location: pg.replayedLsn, replayed_timestamp: null, paused: false };
    return {
      name: this.name,
      role,
      state: this.published.pgState,
      timeline: pg.timeline,
      ...(xlog ? { xlog } : {}),
      tags: {
        nofailover: this.tags.nofailover, failover_priority: this.tags.failoverPriority,
        noloadbalance: this.tags.noloadbalance, nosync: this.tags.nosync,
      },
    };
  }

  /**
   * GET /primary as HAProxy asks it (api/health.ts): the leader key names us, our lease deadline
   * has not passed, and PostgreSQL runs as primary — all from the published snapshot.
   */
  primaryHealthy(): boolean {
    const s = this.published;
    const holds = s.cluster?.leader === this.name && s.leaseDeadline !== null && this.clock.now() < s.leaseDeadline;
    return holds && s.pg.process === 'running' && s.pg.role === 'primary';
  }

  // --- etcd (etcd-dcs.ts, dcs/lease.ts) ---------------------------------------------------------

  /** One etcd operation with a retry_timeout budget (ending at `budgetEnd` on this host's clock). */
  *#dcs<T>(what: string, op: (e: SimEtcd) => T | EtcdRefusal, budgetEnd?: number): Co<T> {
    const timeout = budgetEnd === undefined ? this.settings.retryTimeoutMs : Math.max(1, budgetEnd - this.clock.now());
    const r = yield* perform<T | EtcdRefusal>((resume) => {
      const t = this.proc.timer(timeout, () => resume(new SimFailure(`${what}: deadline exceeded`)));
      this.env.etcd.request(this.host, op, (res) => {
        t.cancel();
        resume(res);
      });
      // Right after the request left (a scenario may now delay or lose the answer).
      this.env.sched.at(this.env.sched.now, () => this.env.requestSent(this, what));
    });
    if (r instanceof EtcdRefusal) throw new SimFailure(`${what}: ${r.kind}: ${r.message}`);
    return r;
  }

  #requireLease(): number {
    if (this.#leaseId === null) throw new SimFailure('no etcd lease: renewLease() must succeed first');
    return this.#leaseId;
  }

  /** A request that writes on `lease`: if etcd no longer knows that lease, forget it (etcd-dcs #leased). */
  *#leased<T>(lease: number, work: Co<T>): Co<T> {
    try {
      return yield* work;
    } catch (err) {
      if (err instanceof SimFailure && err.message.includes('no_lease') && this.#leaseId === lease) this.#leaseId = null;
      throw err;
    }
  }

  *#leasedPut(what: string, key: string, value: unknown): Co<void> {
    const lease = this.#requireLease();
    yield* this.#leased(lease, this.#dcs(what, (e) => {
      if (!e.leaseAlive(lease)) return new EtcdRefusal('no_lease', 'requested lease not found');
      e.put(key, value, lease);
      return true;
    }));
  }

  *#renewLease(): Co<{ sentAt: number; newLease: boolean }> {
    const budgetEnd = this.clock.now() + this.settings.retryTimeoutMs;
    const id = this.#leaseId;
    if (id !== null) {
      const sentAt = this.clock.now();
      const ttl = yield* this.#dcs('lease keepalive', (e) => e.keepalive(id), budgetEnd);
      if (ttl > 0) return { sentAt, newLease: false };
      if (this.#leaseId === id) {
        this.#log(`etcd lease ${id.toString(16)} is gone; granting a new one`);
        this.#leaseId = null;
      }
    }
    const sentAt = this.clock.now();
    const ttlMs = this.settings.ttlMs;
    const granted = yield* this.#dcs('lease grant', (e) => e.grant(ttlMs), budgetEnd);
    this.#leaseId = granted;
    this.#log(`granted etcd lease ${granted.toString(16)}`);
    return { sentAt, newLease: true };
  }

  /**
   * EtcdDcs.acquireLeader: already ours on our lease; else (in a race, only while `status` and
   * `history` were not modified after the revision it was decided on) rebind ours or create. The
   * changed keys are reported when they, not another member's key, stopped us.
   */
  *#acquireLeader(opts: AcquireLeaderOptions = {}): Co<boolean> {
    const lease = this.#requireLease();
    const name = this.name;
    const decided = opts.decidedAtRevision;
    const r = yield* this.#leased(lease, this.#dcs('acquire leader', (e): boolean | ViewChange[] | EtcdRefusal => e.txn(() => {
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
      if (!e.leaseAlive(lease)) return new EtcdRefusal('no_lease', 'requested lease not found');
      e.put(KEY.leader, name, lease);
      return true;
    })));
    if (typeof r === 'boolean') return r;
    opts.onViewChanged?.(r);
    return false;
  }

  *#releaseLeader(): Co<boolean> {
    const name = this.name;
    return yield* this.#dcs('release leader', (e) => e.txn(() => (e.get(KEY.leader)?.value === name ? e.del(KEY.leader) : false)));
  }

  /** The bootstrap claim: "" on our lease, create-only; our own claim counts as won. */
  *#claimInitialize(): Co<boolean> {
    const lease = this.#requireLease();
    return yield* this.#leased(lease, this.#dcs('claim initialize', (e) => e.txn(() => {
      const kv = e.get(KEY.initialize);
      if (kv) return kv.value === '' && kv.lease === lease;
      if (!e.leaseAlive(lease)) return new EtcdRefusal('no_lease', 'requested lease not found');
      e.put(KEY.initialize, '', lease);
      return true;
    })));
  }

  *#writeSync(next: SyncState, expected: SyncState | null): Co<boolean> {
    return yield* this.#dcs('write sync', (e) => e.txn(() => {
      const current = (e.get(KEY.sync)?.value as SyncState | undefined) ?? null;
      if (sameSync(current, next)) return true;
      if (!sameSync(current, expected)) return false;
      e.put(KEY.sync, next);
      return true;
    }));
  }

  // --- PostgreSQL (postgres/adapter.ts through the PostgresNode port) ---------------------------

  *#pgCall<T>(what: string, call: (done: (err: string | null, v?: T) => void) => void): Co<T> {
    return yield* perform<T>((resume) => call((err, v) => resume(err ? new SimFailure(`${what}: ${err}`) : v)));
  }

  *#probe(): Co<PgView> {
    yield* this.#sleep(this.env.rng.int(1, 6));
    return this.pg.probe();
  }

  *#sleep(ms: number): Co<void> {
    yield (resume) => { this.proc.timer(ms, () => resume(undefined)); };
  }

  /** configureStandby(upstream) / configurePrimary() (undefined): rewrite config files. */
  *#pgConfigure(upstream: string | null | undefined): Co<void> {
    yield* this.#sleep(this.env.rng.int(1, 5));
    if (upstream === undefined) this.pg.configurePrimary();
    else this.pg.configureStandby(upstream);
  }

  *#pgStart(): Co<void> {
    return yield* this.#pgCall<void>('start', (done) => this.pg.start(done));
  }

  *#pgStop(mode: 'fast' | 'immediate'): Co<void> {
    return yield* this.#pgCall<void>(`stop ${mode}`, (done) => this.pg.stop(mode, done));
  }

  *#swallow<T>(work: Co<T>): Co<T | undefined> {
    try {
      return yield* work;
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err;
      return undefined;
    }
  }
}

function unreachable(name: string): PeerStatus {
  return { name, reachable: false, role: null, running: false, timeline: null, walLsn: null, replayedLsn: null, tags: null };
}

