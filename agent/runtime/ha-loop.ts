// The HA loop: observe (etcd + PostgreSQL) → decide (pure core) → act → publish. One cycle every
// loop_wait, or at once when etcd reports a change (leader key deleted/expired) or the
// postmaster dies, so replicas react within milliseconds rather than at the next tick.
import type { ClusterView, Decision, HaSettings, LeaderStatus, LocalView, PgState, PgView, RetryState, SyncState } from '../core/types.js';
import type { DynamicConfig } from '../config/types.js';
import { decide } from '../core/decide.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ClusterSnapshot, Dcs, FenceGuard, LoopMetrics, PostgresNode, PromotionHook } from '../ports/ports.js';
import { LeaseKeeper } from './lease-keeper.js';
import { execute } from './actions.js';
import { newSyncBarrier, type ActionContext, type ActionOutcome, type Progress } from './action-context.js';
import type { RaceDeps } from './race-runner.js';
import { memberRecord, pgStateOf, type Identity } from './member-record.js';
import type { NodeStateStore } from './node-state.js';
import { FatalAgentError } from './errors.js';
import { handOver, type HandoverOutcome } from './handover.js';
import { switchoverTarget } from '../core/switchover.js';
import { ClusterMemory } from './cluster-memory.js';

export interface HaLoopDeps {
  readonly identity: Identity;
  readonly scope: string;
  readonly dcs: Dcs;
  readonly pg: PostgresNode;
  readonly store: NodeStateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly race: RaceDeps;
  readonly bootstrapConfig: DynamicConfig;
  readonly toSettings: (cfg: DynamicConfig) => HaSettings;
  readonly metrics?: LoopMetrics;
  /** The out-of-process fence guard (watchdog.mode automatic/required); none when off. */
  readonly guard?: FenceGuard;
  /** postgresql.pre_promote, when configured. */
  readonly prePromote?: PromotionHook;
}

/** Actions that may take seconds (start, clone, rewind…). */
const LONG_ACTIONS: ReadonlySet<string> = new Set([
  'initialize_cluster', 'clone_from_leader', 'rebuild', 'start_replica', 'start_primary', 'rewind',
]);


/** The pause after `failures` failed cycles in a row: loop_wait, doubling, at most 30 s. */
export function cycleBackoffMs(failures: number, loopWaitMs: number): number {
  return Math.min(30_000, loopWaitMs * 2 ** Math.max(0, failures - 1));
}

/** Rules that wait for an operator: their decision is logged as an error when it starts. */
const NEEDS_OPERATOR = /^(foreign-initialize\.|recover\.sync-unknown$|follower\.rewind-failed$|follower\.diverged-same-timeline-manual$)/;

/** Keys whose change should wake the loop at once ('' = the watch may have missed changes). */
const WAKE_KEYS = /^(leader|config|failover|initialize|sync|)$/;

export class HaLoop {
  readonly lease: LeaseKeeper;
  #dynamic: DynamicConfig;
  #settings: HaSettings;
  #cluster: ClusterView | null = null;
  #holdsKey = false;
  #holdsInitializeClaim = false;
  #pgDownSince: number | null = null;
  #notStreamingSince: number | null = null;
  #rewindFailed = false;
  #rewindRetry: RetryState | null = null;
  #startRetry: RetryState | null = null;
  #cleanHandover = false;
  /** The last `status` this agent published as leader (written only when it changes). */
  #lastStatus: LeaderStatus | null = null;
  /** False from the start of a planned handover until PostgreSQL runs again. */
  #serving = true;
  #activity: PgState | null = null;
  #lastRule: string | null = null;
  #wakeRequested = false;
  #wake: (() => void) | null = null;
  /** During a back-off after failed cycles, wakes are remembered but do not end the nap. */
  #ignoreWakes = false;
  #stopping = false;
  #cycle: Promise<void> | null = null;
  /** While set, cycles wait: an operator action (restart, reinit) owns PostgreSQL. */
  #exclusive: Promise<void> | null = null;
  #actx: ActionContext;
  readonly #memory: ClusterMemory;

  constructor(private readonly deps: HaLoopDeps) {
    this.#dynamic = deps.bootstrapConfig;
    this.#settings = deps.toSettings(deps.bootstrapConfig);
    this.#memory = new ClusterMemory(deps.identity.name, deps.logger);
    const log = deps.logger;
    this.lease = new LeaseKeeper({
      dcs: deps.dcs,
      clock: deps.clock,
      logger: log.child({ component: 'lease' }),
      settings: () => this.#settings,
      fence: (reason) => this.#fence(reason),
      ...(deps.guard ? { guard: deps.guard } : {}),
      // Keys on the old lease (leader key, bootstrap claim) went with it.
      onNewLease: () => { this.#holdsKey = false; this.#holdsInitializeClaim = false; this.wakeUp('new lease'); },
      // Health answers follow the lease between cycles too (rule 3).
      onRenewed: (deadline, sentAtWall) => {
        deps.store.update(this.#holdsKey && this.#serving ? { leaseDeadline: deadline, leaseRenewedAt: sentAtWall } : { leaseRenewedAt: sentAtWall });
      },
    });
    this.#actx = {
      name: deps.identity.name,
      dcs: deps.dcs,
      pg: deps.pg,
      clock: deps.clock,
      logger: log,
      lease: this.lease,
      race: deps.race,
      ...(deps.prePromote ? { prePromote: deps.prePromote } : {}),
      bootstrapConfig: deps.bootstrapConfig,
      useSlots: () => this.#dynamic.use_slots,
      dynamic: () => this.#dynamic,
      settings: () => this.#settings,
      peerTimeoutMs: () => Math.min(1000, this.#settings.retryTimeoutMs),
      progress: (p) => this.#applyProgress(p),
      holdsKey: () => this.#holdsKey,
      lastStatus: () => this.#lastStatus,
      membersSeen: this.#memory.membersSeen,
      syncBarrier: newSyncBarrier(),
    };
    deps.pg.onUnexpectedExit((code, signal) => {
      log.warn({ code, signal }, 'PostgreSQL exited unexpectedly');
      this.wakeUp('postmaster exited');
    });
  }

  get settings(): HaSettings {
    return this.#settings;
  }

  /** The leader key is ours on our current lease, as far as this agent knows. */
  get holdsLeaderKey(): boolean {
    return this.#holdsKey;
  }

  wakeUp(why: string): void {
    this.deps.logger.debug({ why }, 'waking the HA loop');
    this.#wakeRequested = true;
    if (!this.#ignoreWakes) this.#wake?.();
  }

  /** Run cycles until stop() is called. Rejects only on a FatalAgentError. */
  async run(): Promise<void> {
    await this.lease.renewNow();
    this.lease.start();
    const cancelWatch = await this.deps.dcs.watch((key) => {
      if (WAKE_KEYS.test(key)) this.wakeUp(`etcd key ${key} changed`);
    }).catch((err: unknown) => {
      this.deps.logger.warn({ err: String(err) }, 'could not watch etcd; relying on loop_wait');
      return async () => undefined;
    });
    let failures = 0;
    let lastError: string | null = null;
    try {
      while (!this.#stopping) {
        while (this.#exclusive) await this.#exclusive;
        this.#wakeRequested = false;
        this.#cycle = this.cycle().then(() => undefined);
        try {
          await this.#cycle;
          if (failures > 0) this.deps.logger.info({ failures }, 'HA cycle succeeded again');
          failures = 0;
          lastError = null;
        } catch (err) {
          if (err instanceof FatalAgentError) throw err;
          failures++;
          // Logged once per distinct error, then at debug: a failing step does not flood the log.
          const text = err instanceof Error ? err.message : String(err);
          const fields = { err: err instanceof Error ? err.stack : String(err), failures, retry_in_ms: cycleBackoffMs(failures, this.#settings.loopWaitMs) };
          if (text !== lastError) this.deps.logger.error(fields, 'HA cycle failed');
          else this.deps.logger.debug(fields, 'HA cycle failed again (same error)');
          lastError = text;
        } finally {
          this.#cycle = null;
        }
        if (this.#stopping) break;
        // After a failed cycle, back off: our own etcd writes (a claim given back…) would wake
        // us at once and turn a failing step into a busy loop (issue 11, item 12).
        if (failures > 0) await this.#nap(cycleBackoffMs(failures, this.#settings.loopWaitMs), { ignoreWakes: true });
        else if (!this.#wakeRequested) await this.#nap(this.#settings.loopWaitMs);
      }
    } finally {
      await cancelWatch().catch(() => undefined);
    }
  }

  /** Stop cycling; waits for a running cycle to finish (bounded by the caller's deadline). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    if (this.#cycle) await this.#cycle.catch(() => undefined);
  }

  /** Run `work` with the HA loop paused between cycles (never concurrently with a cycle). */
  async runExclusive<T>(work: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise((r) => { release = r; });
    try {
      if (this.#cycle) await this.#cycle.catch(() => undefined);
      return await work();
    } finally {
      this.#exclusive = null;
      release();
      this.wakeUp('operator action done');
    }
  }

  /** Rebuild this replica from a fresh base backup of the leader (POST /reinitialize). */
  async reinitialize(): Promise<void> {
    const cluster = this.#cluster;
    const leader = cluster?.leader;
    if (!cluster || !leader || leader === this.deps.identity.name) throw new Error('no other leader to rebuild from');
    const local = await this.#localView(await this.deps.pg.probe());
    this.#fold(await execute(this.#actx, { action: { kind: 'rebuild', leader }, reason: 'reinitialize requested', rule: 'operator.reinitialize' }, cluster, null, local));
  }

  /**
   * SIGTERM on the primary's agent: hand over to the best caught-up replica, if any, before we
   * stop (call after stop()). Resolves null when we are not the leader or nobody qualifies.
   */
  async handOverForShutdown(): Promise<HandoverOutcome | null> {
    const cluster = this.#cluster;
    const pg = await this.deps.pg.probe();
    if (!cluster || cluster.leader !== this.deps.identity.name || pg.role !== 'primary' || pg.process !== 'running') return null;
    const target = switchoverTarget({ ...cluster, failover: null }, this.deps.identity.name, this.#settings);
    if (!target.ok) {
      this.deps.logger.warn({ action: 'shutdown' }, `no replica to hand over to (${target.why}); stopping with the key`);
      return null;
    }
    return handOver(this.#actx, cluster, await this.#localView(pg), target.name, this.#settings);
  }

  /** Wait `ms`, or until woken (stop() always wakes; other wakes only when not ignored). */
  #nap(ms: number, opts: { ignoreWakes?: boolean } = {}): Promise<void> {
    this.#ignoreWakes = opts.ignoreWakes === true;
    return new Promise((resolve) => {
      const t = this.deps.clock.setTimer(ms, done);
      const self = this;
      function done() {
        t.cancel();
        self.#ignoreWakes = false;
        resolve();
      }
      this.#wake = () => { this.#wake = null; done(); };
    });
  }

  /** One observe → decide → act → publish cycle. Returns the decision. */
  async cycle(): Promise<Decision> {
    const { clock, logger } = this.deps;
    const started = clock.now();
    const snapshot = await this.#readCluster();
    await this.deps.pg.setUseSlots(this.#dynamic.use_slots).catch((err: unknown) =>
      logger.warn({ err: String(err) }, 'could not apply use_slots'));
    await this.deps.pg.applyParameters(this.#dynamic.postgresql.parameters).catch((err: unknown) =>
      logger.warn({ err: String(err) }, 'could not apply the cluster-wide PostgreSQL parameters'));
    const pg = await this.deps.pg.probe();
    this.#track(pg);
    const local = await this.#localView(pg, snapshot !== null);
    const decision = decide(this.#cluster, local, this.#settings);
    this.deps.metrics?.countDecision(decision.action.kind);
    this.#logDecision(decision, local);
    this.#publish(decision, pg);
    // While we run a primary, passing the lease deadline fences it even if this loop is stuck.
    this.lease.arm(pg.process === 'running' && pg.role === 'primary' && !this.#cluster?.paused);
    if (decision.action.kind === 'refuse_start') throw new FatalAgentError(decision.reason);
    // Announce ourselves before a long action: the leader creates our replication slot from
    // the member key, and a standby cannot finish starting without it.
    if (LONG_ACTIONS.has(decision.action.kind)) await this.#touchMember(pg);
    try {
      this.#fold(await execute(this.#actx, decision, this.#cluster, snapshot?.revision ?? null, local));
    } finally {
      const after = decision.action.kind === 'none' || decision.action.kind === 'wait' ? pg : await this.deps.pg.probe();
      this.#track(after);
      this.lease.arm(after.process === 'running' && after.role === 'primary' && !this.#cluster?.paused);
      this.#publish(decision, after);
      // The status document lists the primary's replication connections (pg_stat_replication).
      const replication = after.process === 'running' && after.role === 'primary' ? await this.deps.pg.replication() : [];
      this.deps.store.update({ replication });
      await this.#touchMember(after);
    }
    this.deps.metrics?.observeCycle((clock.now() - started) / 1000);
    logger.trace({ took_ms: Math.round(clock.now() - local.now) }, 'cycle done');
    return decision;
  }

  async #localView(pg: PgView, dcsReachable = this.#clusterReadAt !== null): Promise<LocalView> {
    const { clock } = this.deps;
    return {
      name: this.deps.identity.name,
      tags: this.deps.identity.tags,
      now: clock.now(),
      dcsReachable,
      leaseDeadline: this.lease.deadline,
      holdsLeaderKey: this.#holdsKey,
      holdsInitializeClaim: this.#holdsInitializeClaim,
      pg,
      pgDownSince: this.#pgDownSince,
      notStreamingSince: this.#notStreamingSince,
      rewindFailed: this.#rewindFailed,
      ...this.#memory.localFields(this.#cluster, clock.now()),
      rewindRetry: this.#rewindRetry,
      startRetry: this.#startRetry,
      cleanHandover: this.#cleanHandover,
      wallNow: clock.wallNow(),
    };
  }

  async #readCluster(): Promise<ClusterSnapshot | null> {
    try {
      const snap = await this.deps.dcs.readCluster();
      this.#cluster = snap.view;
      this.#memory.observe(snap.view, this.deps.clock.now(), this.#settings);
      this.deps.metrics?.observeLeader(snap.view.leader);
      this.#holdsKey = snap.leaderIsOurs;
      this.#holdsInitializeClaim = snap.initializeIsOurs;
      this.#dcsLastSeen = this.deps.clock.wallNow() / 1000;
      this.#clusterReadAt = this.deps.clock.now();
      if (snap.config) {
        this.#dynamic = snap.config;
        this.#settings = this.deps.toSettings(snap.config);
      }
      return snap;
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'could not read the cluster from etcd');
      return null;
    }
  }

  #dcsLastSeen: number | null = null;
  #clusterReadAt: number | null = null;

  #track(pg: PgView): void {
    const now = this.deps.clock.now();
    const down = pg.dataDir === 'initialized' && (pg.process === 'stopped' || pg.process === 'crashed');
    // A clean handover only matters until PostgreSQL runs again (as the new leader's replica).
    if (pg.process === 'running') {
      this.#startRetry = null;
      this.#cleanHandover = false;
      this.#serving = true;
    }
    this.#pgDownSince = down ? (this.#pgDownSince ?? now) : null;
    const lagging = pg.process === 'running' && pg.role === 'replica' && !pg.streaming;
    this.#notStreamingSince = lagging ? (this.#notStreamingSince ?? now) : null;
  }

  #logDecision(d: Decision, local: LocalView): void {
    const steady = d.action.kind === 'none' || d.action.kind === 'renew_leader' || d.action.kind === 'wait';
    const changed = d.rule !== this.#lastRule;
    // Situations only an operator can end are logged as errors (once per change, then debug).
    const level = !changed && steady ? 'debug' : NEEDS_OPERATOR.test(d.rule) ? 'error' : 'info';
    this.#lastRule = d.rule;
    const pg = local.pg;
    this.deps.logger[level]({
      action: d.action.kind,
      reason: d.reason,
      rule: d.rule,
      leader: this.#cluster?.leader ?? null,
      pg: { process: pg.process, role: pg.role, timeline: pg.timeline, wal: pg.walLsn, received: pg.receivedLsn, replayed: pg.replayedLsn, upstream: pg.upstream },
      lease_ms_left: local.leaseDeadline === null ? null : Math.round(local.leaseDeadline - local.now),
      cluster_optime: this.#cluster?.status?.optime ?? null,
    }, d.reason);
  }

  #lastDecision: (Decision & { at: string }) | null = null;

  #publish(decision: Decision | null, pg?: PgView): void {
    const { store, clock } = this.deps;
    if (decision) this.#lastDecision = { ...decision, at: new Date(clock.wallNow()).toISOString() };
    const prev = store.get();
    const pgView = pg ?? prev.pg;
    store.set({
      ...prev,
      pg: pgView,
      pgState: pgStateOf(pgView, this.#activity),
      cluster: this.#cluster,
      dcsLastSeen: this.#dcsLastSeen,
      clusterReadAt: this.#clusterReadAt,
      leaseDeadline: this.#holdsKey && this.#serving ? this.lease.deadline : null,
      lastDecision: this.#lastDecision,
      lastCycleAt: decision ? clock.now() : prev.lastCycleAt,
      settings: this.#settings,
      pendingRestart: pgView.pendingRestart === true,
      dynamicConfig: this.#cluster === null ? null : this.#dynamic,
    });
  }

  async #touchMember(pg: PgView): Promise<void> {
    const record = memberRecord(this.deps.identity, pg, pgStateOf(pg, this.#activity));
    await this.deps.dcs.touchMember(record).catch((err: unknown) =>
      this.deps.logger.warn({ err: String(err) }, 'could not publish my member key'));
  }

  /** What an action reports while it runs, applied at once. */
  #applyProgress(p: Progress): void {
    switch (p.kind) {
      case 'activity':
        this.#activity = p.state;
        this.#publish(null);
        return;
      case 'pg':
        this.#track(p.pg);
        this.#publish(null, p.pg);
        return;
      case 'serving':
        this.#serving = p.serving;
        if (!p.serving) this.deps.store.update({ leaseDeadline: null });
        return;
      case 'holds-key':
        this.#holdsKey = p.held;
        if (p.held && this.#cluster) this.#cluster = { ...this.#cluster, leader: this.deps.identity.name };
        return;
    }
  }

  /** What a finished action leaves behind, folded into the loop's state. */
  #fold(o: ActionOutcome): void {
    if (o.rewindFailed !== undefined) this.#rewindFailed = o.rewindFailed;
    if (o.rewindRetry !== undefined) this.#rewindRetry = o.rewindRetry;
    if (o.startRetry !== undefined) this.#startRetry = o.startRetry;
    if (o.cleanHandover !== undefined) this.#cleanHandover = o.cleanHandover;
    if (o.lastStatus) this.#lastStatus = o.lastStatus;
    if (o.sync) this.deps.store.update({ syncState: o.sync.plan.state, syncStandbys: o.sync.published });
    if (o.wakeUp) this.wakeUp(o.wakeUp);
  }

  async #fence(reason: string): Promise<void> {
    this.deps.logger.error({ action: 'fence', reason }, reason);
    try {
      await this.deps.pg.stop('immediate');
    } catch (err) {
      this.deps.logger.error({ err: String(err) }, 'fencing stop failed');
    }
    this.wakeUp('fenced');
  }
}
