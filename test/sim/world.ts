// One simulated cluster: N nodes (agent + PostgreSQL), etcd, the network, the client host, the
// fault schedule — all driven by one seed through one event scheduler — and the invariants,
// checked after EVERY event:
//   split-brain           at most one node accepts writes (PostgreSQL runs as primary) at any
//                         instant, a node whose agent is frozen included: each agent runs the
//                         fence guard (guard.ts), which kills PostgreSQL by the lease deadline.
//                         Only with `guard: false` (watchdog.mode off) is a node frozen past its
//                         deadline exempt; those windows are counted apart (freeze windows)
//   primary-past-deadline rule 2: no writable primary after its own lease deadline
//   writable-while-other-leads  rule 1: no writable primary while the leader key names another
//   promoted-without-key / ineligible-promotion  rule 4, judged at the instant promotion starts
//                         against etcd's actual keys and the node's actual WAL position
//   lost-acked-write      synchronous mode: every acknowledged commit is on each new primary
// and at the end: no stale acknowledgement, the split-brain probe's history is clean, and after
// everything is healed the cluster converges (one primary holding the key, all others streaming
// from it) within the liveness bound.
import {
  checkLostWrites, checkSplitBrain, checkStaleAcks, convergenceTime, type NodeStateSample, type Promotion,
} from '../../agent/chaos/invariants.js';
import { isEligible, neverPromote } from '../../agent/core/eligibility.js';
import type { HaSettings, Tags } from '../../agent/core/types.js';
import { NO_TAGS } from '../../agent/core/types.js';
import { toHaSettings } from '../../agent/config/dynamic.js';
import { DEFAULT_DYNAMIC_CONFIG, type DynamicConfig } from '../../agent/config/types.js';
import { SimAgent, type AgentEnv } from './agent.js';
import { Clients } from './clients.js';
import { HostClock, MAX_DRIFT, Scheduler } from './clock.js';
import { ETCD, KEY, SimEtcd, decodeCluster } from './etcd.js';
import { TIMINGS, describeFault, drawFaults, type Fault, type FaultTrigger, type ScheduledFault } from './faults.js';
import { Network } from './network.js';
import { Branch, SimPostgres, isPrefix, writeIdsUpTo, type PgEnv } from './postgres.js';
import { Rng } from './rng.js';
import { Trace } from './trace.js';

export interface SimConfig {
  readonly seed: number;
  /** Simulated seconds of the fault phase. */
  readonly faultSeconds: number;
  /** Simulated seconds allowed for convergence once everything is healed. */
  readonly livenessSeconds: number;
  readonly nodes?: number;
  readonly synchronousMode?: boolean;
  readonly settings?: Partial<HaSettings>;
  readonly tags?: Readonly<Record<string, Partial<Tags>>>;
  /** Draw random faults from the seed (default true). */
  readonly randomFaults?: boolean;
  /** Faults at fixed times (named scenarios); nodes may be named '@primary', '@replica'… */
  readonly script?: readonly ScheduledFault[];
  /** Faults applied when something happens (named scenarios). */
  readonly triggers?: readonly FaultTrigger[];
  /** Break the agent or PostgreSQL on purpose, to show the invariants catch it (tests only). */
  readonly sabotage?: readonly Sabotage[];
  /** Keep every trace line (for replay output and the determinism test). */
  readonly traceAll?: boolean;
  /** Each agent runs the fence guard (watchdog.mode automatic); default true. */
  readonly guard?: boolean;
}

/**
 * Deliberate defects of the simulated world for the "the simulation can fail" tests (the
 * runtime's own defects are planted by sabotage tests that patch the shipped modules):
 *   ack-without-standby   PostgreSQL acknowledges commits without waiting for the sync standby
 *   guard-never-fires     the fence guard is fed but never kills PostgreSQL
 */
export type Sabotage = 'ack-without-standby' | 'guard-never-fires';

export interface Violation {
  readonly kind: string;
  readonly at: number;
  readonly message: string;
}

export interface SimStats {
  steps: number;
  simulatedMs: number;
  writesAttempted: number;
  writesAcked: number;
  /** Acknowledged writes missing on the final primary (allowed in asynchronous mode only). */
  lostAcked: number;
  promotions: number;
  /** Windows in which a node frozen past its lease still ran a primary beside another primary. */
  freezeWindows: number;
  /** Writes acknowledged by such a node. */
  freezeAcks: number;
  /** Sessions HAProxy opened to a frozen-past-deadline node. */
  routedToFrozen: number;
  /** Times a fence guard killed PostgreSQL because its agent did not feed it in time. */
  guardFences: number;
  /** `status` writes applied while the leader key named another node (or nobody). */
  staleStatusWrites: number;
  convergenceMs: number | null;
  rules: Record<string, number>;
}

export interface SimResult {
  readonly seed: number;
  /** No violation. */
  readonly ok: boolean;
  readonly violations: Violation[];
  readonly setup: string;
  readonly faults: string[];
  readonly stats: SimStats;
  readonly traceHash: string;
  readonly traceLines: number;
  readonly tail: string[];
  readonly trace: readonly string[];
}

interface Node {
  readonly name: string;
  readonly pg: SimPostgres;
  readonly agent: SimAgent;
}

/** Time the agents get to bootstrap before faults start. */
export const BOOT_MS = 12_000;
/** Rule 2 allows the fence timer's own latency (timer granularity), nothing more. */
const FENCE_SLACK_MS = 50;
const SAMPLE_MS = 250;
/** After converging, the cluster must stay converged this long. */
const STABLE_MS = 3000;
const MAX_STEPS = 20_000_000;


export class World {
  readonly sched = new Scheduler();
  readonly rng: Rng;
  readonly trace: Trace;
  readonly net: Network;
  readonly etcd: SimEtcd;
  /** The settings the cluster was bootstrapped with (the dynamic config may change them). */
  readonly settings: HaSettings;
  readonly bootstrapConfig: DynamicConfig;
  readonly nodes: Node[] = [];
  readonly clients: Clients;
  readonly promotions: Promotion[] = [];
  readonly violations: Violation[] = [];
  readonly faults: ScheduledFault[] = [];
  readonly setup: string;
  readonly #rules = new Map<string, number>();
  /** The rule each agent's last decision came from. */
  readonly #lastRule = new Map<string, string>();
  readonly #byName = new Map<string, Node>();
  readonly #taint = new Set<string>();
  /** WAL branch → the node that first ran a primary on it. */
  readonly #branchOwner = new Map<Branch, string>();
  #branchIds = 0;
  #freezeWindow = false;
  #freezeWindows = 0;
  #guardFences = 0;
  #etcdOutages = 0;
  readonly #replayPauses = new Map<string, number>();
  #healed = false;
  /** etcd lost its data at some point: the bootstrap that follows re-initializes existing data. */
  #wiped = false;
  #wipedAt: number | null = null;
  #staleStatusWrites = 0;
  #triggers: FaultTrigger[] = [];
  /** The node that fired the trigger being applied ('@promoting', '@acquiring'). */
  #subject: string | null = null;

  constructor(readonly config: SimConfig) {
    const seed = config.seed;
    const named = (label: string): Rng => Rng.named(seed, label);
    this.rng = named('world');
    this.trace = new Trace(this.sched, 400, config.traceAll ?? false);
    this.net = new Network(this.sched, named('network'), { lossRate: named('setup.loss').next() * 0.01, spikeRate: 0.01, spikeMaxMs: 400 });
    const drift = (r: Rng): number => 1 + (r.next() * 2 - 1) * MAX_DRIFT;
    const etcdClock = named('setup.clock.etcd');
    this.etcd = new SimEtcd(this.sched, new HostClock(this.sched, drift(etcdClock), etcdClock.int(1e6, 1e9)), this.net, this.trace);

    const [ttlMs, loopWaitMs, retryTimeoutMs] = named('setup.timings').pick(TIMINGS);
    this.settings = {
      ttlMs, loopWaitMs, retryTimeoutMs,
      maximumLagOnFailover: 256 * 1024,
      primaryStartTimeoutMs: named('setup.primary_start_timeout').pick([5000, 10_000]),
      checkTimeline: true,
      usePgRewind: named('setup.use_pg_rewind').chance(0.9),
      rebuildOnRewindFailure: true,
      synchronousMode: config.synchronousMode ?? named('setup.synchronous_mode').chance(0.4),
      synchronousModeStrict: named('setup.synchronous_mode_strict').chance(0.3),
      ...config.settings,
    };
    this.bootstrapConfig = toDynamicConfig(this.settings);

    const n = config.nodes ?? named('setup.nodes').pick([3, 3, 3, 3, 4, 5]);
    const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const tagRng = named('setup.tags');
    const tagged = tagRng.chance(0.15) ? tagRng.pick(names) : null;
    const prioritised = tagRng.chance(0.15);
    const pgEnv = this.#pgEnv(named('postgres'));
    const agentEnv = this.#agentEnv(named('agents'));
    for (const name of names) {
      const nodeRng = named(`setup.node.${name}`);
      const tags: Tags = {
        ...NO_TAGS,
        ...(name === tagged ? { nofailover: true } : {}),
        ...(prioritised ? { failoverPriority: nodeRng.int(1, 3) } : {}),
        ...config.tags?.[name],
      };
      const clock = new HostClock(this.sched, drift(nodeRng), nodeRng.int(1e6, 1e9));
      const pg = new SimPostgres(name, name, pgEnv);
      const agent = new SimAgent(name, tags, pg, clock, agentEnv);
      const node = { name, pg, agent };
      this.nodes.push(node);
      this.#byName.set(name, node);
    }
    this.clients = new Clients({
      sched: this.sched, net: this.net, rng: named('clients'), trace: this.trace,
      agents: this.nodes.map((x) => x.agent), exempt: (name) => this.#exempt(this.#byName.get(name)!),
    });

    const faultEnd = BOOT_MS + config.faultSeconds * 1000;
    if (config.randomFaults ?? true) this.faults.push(...drawFaults(named('faults'), names, this.settings.ttlMs, BOOT_MS, faultEnd));
    if (config.script) this.faults.push(...config.script);
    this.faults.sort((a, b) => a.at - b.at);

    const s = this.settings;
    this.setup = `${n} nodes, ${s.synchronousMode ? (s.synchronousModeStrict ? 'strict synchronous' : 'synchronous') : 'asynchronous'} mode, ttl ${s.ttlMs} / loop_wait ${s.loopWaitMs} / retry_timeout ${
      s.retryTimeoutMs} ms, maximum_lag_on_failover ${s.maximumLagOnFailover}, primary_start_timeout ${s.primaryStartTimeoutMs} ms${
      tagged ? `, ${tagged} nofailover` : ''}${prioritised ? `, priorities ${this.nodes.map((x) => `${x.name}=${x.agent.tags.failoverPriority}`).join(' ')}` : ''}; clocks ${
      this.nodes.map((x) => `${x.name}×${x.agent.clock.rate.toFixed(4)}`).join(' ')} etcd×${this.etcd.clock.rate.toFixed(4)}`;
  }

  node(name: string): Node {
    const n = this.#byName.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  #violate(kind: string, message: string): void {
    if (this.violations.some((v) => v.kind === kind)) return;
    this.violations.push({ kind, at: this.sched.now, message });
    this.trace.log('CHECK', `VIOLATION ${kind}: ${message}`);
  }

  // --- environments handed to PostgreSQL and the agents ---------------------------------------

  #pgEnv(rng: Rng): PgEnv {
    return {
      sabotage: new Set(this.config.sabotage ?? []),
      sched: this.sched, net: this.net, rng, trace: this.trace,
      systemId: `7${String(this.config.seed >>> 0).padStart(18, '0')}`,
      replicationTimeoutMs: 10_000,
      pg: (name) => this.#byName.get(name)?.pg,
      newBranch: (tl, parent, fork) => new Branch(++this.#branchIds, tl, parent, fork),
      promoting: (pg, how) => this.#checkPromotion(pg, how),
      becamePrimary: (pg, how) => this.#becamePrimary(pg, how),
      primaryStopped: (pg) => this.#fire('primary-stopped', pg.name, false),
    };
  }

  #agentEnv(rng: Rng): AgentEnv {
    return {
      requestSent: (a, what) => this.#fire('request-sent', a.name, false, what),
      statusWritten: (writer, holder) => {
        if (holder === writer) return;
        // Eligibility (rule 4) is judged against `status`: only the leader may write it.
        this.#staleStatusWrites++;
        this.#violate('status-by-non-leader', `status written by ${writer} while the leader key names ${holder ?? 'nobody'}`);
      },
      sched: this.sched, net: this.net, etcd: this.etcd, trace: this.trace, rng,
      bootstrapConfig: this.bootstrapConfig,
      wallEpochMs: Date.UTC(2026, 0, 1),
      guard: (this.config.guard ?? true)
        ? { broken: (this.config.sabotage ?? []).includes('guard-never-fires'), fired: () => { this.#guardFences++; } }
        : null,
      agent: (name) => this.#byName.get(name)?.agent,
      decided: (a, rule) => {
        this.#lastRule.set(a.name, rule);
        this.#rules.set(rule, (this.#rules.get(rule) ?? 0) + 1);
        this.#fire('decided', a.name, false, undefined, rule);
      },
      fatal: (a, why) => this.#violate('agent-fatal', `${a.name} stopped: ${why}`),
    };
  }

  /** The settings in force: etcd's `config` (what the agents read), else the bootstrap ones. */
  currentSettings(): HaSettings {
    const cfg = this.etcd.get(KEY.config)?.value as DynamicConfig | undefined;
    return cfg ? toHaSettings(cfg) : this.settings;
  }

  // --- invariants ------------------------------------------------------------------------------

  /**
   * Without a fence guard only: a node whose agent is frozen (or was, and has not stopped
   * PostgreSQL since) past its deadline. With the guard nothing is exempt.
   */
  #exempt(n: Node): boolean {
    if (this.config.guard ?? true) return false;
    if (!n.pg.writable) return false;
    if (this.#taint.has(n.name)) return true;
    if (!n.agent.proc.frozen) return false;
    const dl = n.agent.leaseDeadlineNow;
    return dl === null || n.agent.clock.now() >= dl;
  }

  /** After every event. */
  #checkInstant(): void {
    const live: Node[] = [];
    let all = 0;
    const leader = this.etcd.get(KEY.leader);
    for (const n of this.nodes) {
      if (!n.pg.writable) {
        this.#taint.delete(n.name);
        continue;
      }
      all++;
      if (this.#taint.has(n.name)) {
        // A thawed agent that renewed its (still existing) lease and holds the key is legitimate again.
        const dl = n.agent.leaseDeadlineNow;
        if (dl !== null && n.agent.clock.now() < dl && leader?.value === n.name && n.agent.holdsKey) this.#taint.delete(n.name);
      }
      if (this.#exempt(n)) continue;
      live.push(n);
      const dl = n.agent.leaseDeadlineNow;
      // Holding the key on our lease within our deadline makes a running primary the cluster's
      // writer (e.g. one that raced while already primary): record it for the stale-ack check.
      const legit = leader?.value === n.name && leader.lease === n.agent.leaseId && dl !== null && n.agent.clock.now() < dl;
      if (legit && this.promotions[this.promotions.length - 1]?.node !== n.name) {
        this.promotions.push({ node: n.name, at: this.sched.now });
        this.trace.log('CHECK', `${n.name} is the legitimate writer (holds the key on its lease) while already primary`);
      }
      if (n.agent.proc.alive && dl !== null && n.agent.clock.now() > dl + FENCE_SLACK_MS) {
        this.#violate('primary-past-deadline', `${n.name} accepts writes ${Math.round(n.agent.clock.now() - dl)} ms after its lease deadline (rule 2)`);
      }
      // Rule 2's deadline must end before etcd can expire the lease that holds the leader key,
      // whatever the dynamic ttl says: otherwise another node may promote while this one serves.
      if (leader?.value === n.name && leader.lease !== null && dl !== null && this.etcd.available) {
        const expiry = this.etcd.leaseExpiresAt(leader.lease);
        const dlGlobal = n.agent.clock.toGlobal(dl);
        if (expiry !== null && dlGlobal > this.etcd.clock.toGlobal(expiry)) {
          this.#violate('deadline-after-lease-expiry', `${n.name}'s lease deadline is ${Math.round(dlGlobal - this.etcd.clock.toGlobal(expiry))} ms after etcd expires the lease ${
            leader.lease.toString(16)} that holds its leader key (rule 2)`);
        }
      }
      // Bootstrap starts PostgreSQL before taking the key, by design: the `initialize` claim is the
      // lock then (actions.ts initializeCluster). Only a fresh root timeline qualifies.
      const bootstrapping = this.etcd.get(KEY.initialize)?.value === '' && n.pg.data?.branch.parent === null;
      // A value written on no lease was not taken through the race: not another leader (the
      // primary fences on it as on any key that is not its own, see leader.invalid-primary).
      if (leader && leader.lease !== null && leader.value !== n.name && !bootstrapping) {
        this.#violate('writable-while-other-leads', `${n.name} accepts writes while the leader key names ${String(leader.value)} (rule 1)`);
      }
    }
    if (live.length >= 2) this.#violate('split-brain', `${live.map((x) => x.name).join(' and ')} accept writes at the same time`);
    if (all >= 2 && !this.#freezeWindow) {
      this.#freezeWindow = true;
      this.#freezeWindows++;
      this.trace.log('CHECK', `freeze window: ${this.nodes.filter((x) => x.pg.writable).map((x) => x.name).join(', ')} run a primary${(this.config.guard ?? true) ? '' : ' (frozen agent, no watchdog)'}`);
    } else if (all < 2) {
      this.#freezeWindow = false;
    }
  }

  #checkPromotion(pg: SimPostgres, how: string): void {
    const n = this.node(pg.name);
    const last = this.promotions[this.promotions.length - 1];
    this.#fire('promote-start', pg.name, last?.node === pg.name);
    if (last?.node === pg.name) {
      // No takeover: the last primary promotes its own data again (e.g. it fenced, kept the key,
      // came back as a standby and promotes). Rule 4 is about replacing another primary.
      this.trace.log('CHECK', `${pg.name} ${how}: it was the last primary; no takeover, eligibility not required`);
      return;
    }
    const leader = this.etcd.get(KEY.leader);
    // etcd losing its data between an agent's `acquire leader` and its answer leaves a winner
    // without a key: undetectable until its next renewal fences it (well before anyone may
    // re-initialize the cluster, see recover.wait). Not judged within retry_timeout of a wipe.
    const justWiped = this.#wipedAt !== null && this.sched.now - this.#wipedAt <= this.currentSettings().retryTimeoutMs && !leader;
    if (!justWiped && (leader?.value !== pg.name || leader.lease !== n.agent.leaseId)) {
      this.#violate('promoted-without-key', `${pg.name} starts ${how} while the leader key names ${
        leader ? `${String(leader.value)}${leader.value === pg.name ? ' on another lease' : ''}` : 'nobody'}`);
    }
    const snap = decodeCluster(this.etcd.range(), this.etcd.revision).view;
    const view = snap;
    const d = pg.data!;
    // A planned handover's candidate (the `failover` key names it) takes over what it RECEIVED
    // (the old primary confirmed it holds its shutdown checkpoint): promotion replays the rest.
    const handover = snap.failover?.candidate === pg.name;
    const v = isEligible({
      name: pg.name, tags: n.agent.tags, running: true, role: 'replica', timeline: d.branch.tl, replayedLsn: handover ? Math.max(d.replay, d.flush) : d.replay,
    }, view, this.currentSettings());
    const status = snap.status ? `cluster status optime ${snap.status.optime} timeline ${snap.status.timeline}` : 'no status';
    this.trace.log('CHECK', `${pg.name} ${how}: replayed ${d.replay} on timeline ${d.branch.tl}, ${status}: ${v.ok ? `eligible (${v.detail})` : `NOT eligible: ${v.why}`}`);
    if (!v.ok) this.#violate('ineligible-promotion', `${pg.name} started ${how} while not eligible: ${v.why} (rule 4)`);
  }

  #becamePrimary(pg: SimPostgres, how: string): void {
    const branch = pg.data!.branch;
    if (this.#wiped && this.etcd.get(KEY.initialize)?.value !== pg.data!.systemId) this.#checkRecoveredFromBest(pg, how);
    // A promotion, or the first primary on a fresh branch (bootstrap): a new writer from now on.
    if (how !== 'restart' || !this.#branchOwner.has(branch)) {
      this.#branchOwner.set(branch, pg.name);
      this.promotions.push({ node: pg.name, at: this.sched.now });
    }
    if (!this.settings.synchronousMode) return;
    const d = pg.data!;
    const present = new Set(writeIdsUpTo(d.branch, d.flush));
    const lost = this.clients.acks.filter((a) => !present.has(a.id)).map((a) => a.id);
    if (lost.length > 0) {
      this.#violate('lost-acked-write', `${pg.name} became primary (${how}) without acknowledged write(s) ${lost.slice(0, 10).join(', ')}${
        lost.length > 10 ? ` (+${lost.length - 10})` : ''} (rule 5)`);
    }
  }

  /**
   * Issue 11, item 1: a cluster re-initialized after etcd lost its data must not be led by a node
   * provably behind another it can reach: one whose WAL is a strict prefix of the other's.
   */
  #checkRecoveredFromBest(pg: SimPostgres, how: string): void {
    const mine = pg.data!;
    for (const n of this.nodes) {
      const other = n.pg.data;
      if (n.pg === pg || !other || !n.pg.hostUp || other.systemId !== mine.systemId) continue;
      if (!this.net.up(pg.host, n.pg.host) || !this.net.up(n.pg.host, pg.host) || !n.agent.proc.alive) continue;
      if (other.flush > mine.flush && isPrefix(mine.branch, mine.flush, other.branch, other.flush)) {
        this.#violate('recovered-behind', `${pg.name} became primary (${how}) re-initializing the cluster at ${mine.flush} while reachable ${n.name} holds more of the same WAL (${other.flush})`);
      }
    }
  }

  // --- faults ------------------------------------------------------------------------------------

  #fire(on: FaultTrigger['on'], node: string, selfPromotion: boolean, op?: string, rule?: string): void {
    if (selfPromotion || this.#triggers.length === 0) return;
    const due = this.#triggers.filter((t) => t.on === on && this.sched.now >= t.after
      && (t.op === undefined || t.op === op) && (t.rule === undefined || t.rule === rule));
    if (due.length === 0) return;
    this.#triggers = this.#triggers.filter((t) => !due.includes(t));
    this.#subject = node;
    for (const t of due) this.applyFault(t.fault);
    this.#subject = null;
  }

  /**
   * A node named in a scripted fault: a name, or '@primary', '@replica', '@replica2' (running
   * replicas by name), '@promoting'/'@requesting'/'@deciding' (the node that fired a trigger),
   * '@last-primary' (the node promoted last), '@bystander' (the
   * first running replica that is not promoting and may be promoted).
   */
  resolve(ref: string): string {
    if (!ref.startsWith('@')) return ref;
    const leader = this.etcd.get(KEY.leader)?.value;
    const primary = this.nodes.find((n) => n.name === leader && n.pg.writable) ?? this.nodes.find((n) => n.pg.writable);
    if (ref === '@primary') return (primary ?? this.nodes[0]!).name;
    if (ref === '@promoting' || ref === '@requesting' || ref === '@deciding' || ref === '@stopped') return this.#subject ?? (primary ?? this.nodes[0]!).name;
    if (ref === '@last-primary') return this.promotions[this.promotions.length - 1]?.node ?? (primary ?? this.nodes[0]!).name;
    const replicas = this.nodes.filter((n) => n !== primary && n.pg.process === 'running' && n.pg.role === 'replica');
    if (ref === '@bystander') {
      const b = replicas.find((n) => n.name !== this.#subject && !n.agent.tags.nofailover);
      return (b ?? this.nodes[0]!).name;
    }
    const pick = ref === '@replica2' ? replicas[1] : replicas[0];
    return (pick ?? this.nodes.find((n) => n !== primary) ?? this.nodes[0]!).name;
  }

  #resolveFault(f: Fault): Fault {
    switch (f.kind) {
      case 'etcd-outage':
      case 'set-timings':
      case 'etcd-wipe':
      case 'stop-all':
      case 'stray-leader': return f;
      case 'switchover': return f.candidate === null ? f : { ...f, candidate: this.resolve(f.candidate) };
      case 'partition-pair':
      case 'slow-link': return { ...f, a: this.resolve(f.a), b: f.b === 'etcd' ? f.b : this.resolve(f.b) };
      default: return { ...f, node: this.resolve(f.node) };
    }
  }

  applyFault(spec: Fault): void {
    const f = this.#resolveFault(spec);
    this.trace.log('FAULT', describeFault(f));
    const later = (ms: number, fn: () => void): void => this.sched.after(ms, () => {
      if (!this.#healed) fn();
    });
    switch (f.kind) {
      case 'kill-node': {
        const n = this.node(f.node);
        if (!n.pg.hostUp) return;
        n.agent.kill();
        n.pg.hostCrash();
        this.#taint.delete(n.name);
        later(f.downMs, () => this.#bootNode(n));
        return;
      }
      case 'kill-pg':
        this.node(f.node).pg.crash();
        return;
      case 'freeze-agent': {
        const n = this.node(f.node);
        if (!n.agent.proc.alive || n.agent.proc.frozen) return;
        n.agent.proc.freeze();
        later(f.ms, () => this.#thaw(n));
        return;
      }
      case 'partition-etcd': {
        const host = this.node(f.node).agent.host;
        this.net.cut(host, ETCD);
        later(f.ms, () => this.net.restore(host, ETCD));
        return;
      }
      case 'partition-peers': {
        const host = this.node(f.node).agent.host;
        const others = this.nodes.filter((x) => x.name !== f.node).map((x) => x.agent.host);
        for (const o of others) this.net.cut(host, o);
        later(f.ms, () => { for (const o of others) this.net.restore(host, o); });
        return;
      }
      case 'partition-pair':
        this.net.cut(f.a, f.b);
        later(f.ms, () => this.net.restore(f.a, f.b));
        return;
      case 'etcd-outage':
        this.#etcdOutages++;
        this.etcd.setAvailable(false);
        later(f.ms, () => {
          if (--this.#etcdOutages === 0) this.etcd.setAvailable(true);
        });
        return;
      case 'replay-pause': {
        const pg = this.node(f.node).pg;
        const k = (this.#replayPauses.get(f.node) ?? 0) + 1;
        this.#replayPauses.set(f.node, k);
        if (k === 1) pg.setReplayPaused(true);
        later(f.ms, () => {
          const left = (this.#replayPauses.get(f.node) ?? 1) - 1;
          this.#replayPauses.set(f.node, left);
          if (left === 0) pg.setReplayPaused(false);
        });
        return;
      }
      case 'slow-link':
        this.net.slow(f.a, f.b, f.extraMs);
        later(f.ms, () => this.net.unslow(f.a, f.b));
        return;
      case 'set-timings': {
        // What `ctl edit-config` writes (a compare-and-swap on the revision it read).
        if (!this.etcd.available) return;
        const cfg = (this.etcd.get(KEY.config)?.value as DynamicConfig | undefined) ?? this.bootstrapConfig;
        this.etcd.put(KEY.config, { ...cfg, ttl: f.ttlMs / 1000, loop_wait: f.loopWaitMs / 1000, retry_timeout: f.retryTimeoutMs / 1000 });
        return;
      }
      case 'switchover': {
        const leader = this.etcd.get(KEY.leader)?.value;
        if (!this.etcd.available || typeof leader !== 'string' || f.candidate === leader) return;
        this.etcd.put(KEY.failover, f.candidate === null ? { leader } : { leader, candidate: f.candidate });
        return;
      }
      case 'stop-all': {
        const order = this.rng.shuffle([...this.nodes]);
        order.forEach((n, i) => later(i * f.gapMs, () => this.applyFault({ kind: 'sigterm', node: n.name, downMs: f.downMs + this.rng.int(0, 5000) })));
        return;
      }
      case 'etcd-wipe':
        this.etcd.wipe();
        this.#wiped = true;
        this.#wipedAt = this.sched.now;
        return;
      case 'stray-leader': {
        if (!this.etcd.available) return;
        const value = f.value === 'replica' ? this.resolve('@replica') : f.value === 'malformed' ? '' : 'ghost';
        this.etcd.put(KEY.leader, value, null);
        return;
      }
      case 'sigterm': {
        const n = this.node(f.node);
        if (!n.agent.proc.alive || n.agent.proc.frozen) return;
        // It starts again downMs after it exited (at once once everything is healed).
        n.agent.sigterm(() => this.sched.after(this.#healed ? 0 : f.downMs, () => this.#bootAgent(n)));
        return;
      }
    }
  }

  #bootNode(n: Node): void {
    if (n.pg.hostUp) return;
    this.trace.log('FAULT', `node ${n.name} boots again`);
    n.pg.hostBoot();
    n.agent.boot();
  }

  /** Start an agent that stopped (SIGTERM) on a host that is up. */
  #bootAgent(n: Node): void {
    if (!n.pg.hostUp || n.agent.proc.alive) return;
    this.trace.log('FAULT', `agent ${n.name} starts again`);
    n.agent.boot();
  }

  #thaw(n: Node): void {
    if (!n.agent.proc.frozen) return;
    const dl = n.agent.leaseDeadlineNow;
    const past = dl === null || n.agent.clock.now() >= dl;
    this.trace.log('FAULT', `SIGCONT agent ${n.name}${n.pg.writable && past ? ' (its primary outlived its lease deadline while frozen)' : ''}`);
    if (n.pg.writable && past) this.#taint.add(n.name);
    n.agent.proc.thaw();
  }

  /**
   * The operator of the liveness phase: when the cluster stays without `initialize` and leader
   * while agents wait in synchronous mode because they cannot tell they hold every acknowledged
   * commit (recover.sync-unknown: etcd lost its data, the agents their memory), the operator does
   * what the log line asks: `ctl failover --candidate` naming
   * the member with the most WAL (as `ctl list` shows it).
   */
  #operatorUnblocksRecovery(): void {
    if (this.etcd.get(KEY.failover) || !this.etcd.available) return;
    const live = this.nodes.filter((n) => n.agent.proc.alive && n.pg.data && neverPromote(n.agent.tags) === null);
    const stuck = this.etcd.get(KEY.initialize) === undefined && this.etcd.get(KEY.leader) === undefined;
    if (!stuck || !live.some((n) => this.#lastRule.get(n.name) === 'recover.sync-unknown')) return;
    const best = [...live].sort((a, b) => (b.pg.data!.branch.tl - a.pg.data!.branch.tl) || (b.pg.data!.flush - a.pg.data!.flush))[0]!;
    this.trace.log('FAULT', `operator: ctl failover --candidate ${best.name} (every member waits: synchronous mode, none knows the last sync)`);
    this.etcd.put(KEY.failover, { candidate: best.name });
  }

  /** The liveness phase: every fault repaired at once; pending repairs become no-ops. */
  healAll(): void {
    const operator = (): void => {
      this.#operatorUnblocksRecovery();
      this.sched.after(10_000, operator);
    };
    this.sched.after(10_000, operator);
    this.#healed = true;
    this.trace.log('FAULT', 'HEAL: network healed, etcd available, every node running, agents thawed, replay resumed');
    this.net.healAll();
    this.#etcdOutages = 0;
    this.etcd.setAvailable(true);
    for (const n of this.nodes) {
      if (!n.pg.hostUp) this.#bootNode(n);
      else if (n.agent.proc.frozen) this.#thaw(n);
      else if (!n.agent.proc.alive) this.#bootAgent(n);
      if (n.pg.replayPaused) n.pg.setReplayPaused(false);
    }
    this.#replayPauses.clear();
  }

  // --- running -----------------------------------------------------------------------------------

  /**
   * Run events up to time t, checking after each; `each` may end the run early (returns true).
   * After an event that ran an agent's code, its promise continuations run to completion (a
   * macrotask turn drains every microtask) before the invariants are checked and the next event
   * runs: the async runtime advances only inside simulated events, so one seed is one run.
   */
  async #runUntil(t: number, each?: () => boolean): Promise<void> {
    while (this.violations.length === 0) {
      const next = this.sched.peek();
      if (next === null || next > t) return;
      this.sched.step();
      if (this.sched.takeProcessCodeRan()) await drainContinuations();
      this.#checkInstant();
      if (each?.()) return;
      if (this.sched.steps > MAX_STEPS) {
        this.#violate('runaway', `more than ${MAX_STEPS} events: the simulation is not making progress`);
      }
    }
  }

  #sample(at: number): NodeStateSample[] {
    const leader = this.etcd.get(KEY.leader)?.value;
    return this.nodes.map((n) => {
      const pg = n.pg;
      const role = pg.writable
        ? (leader === n.name ? 'primary' : 'primary-without-key')
        : pg.process === 'running' && pg.role === 'replica' ? 'replica' : pg.process;
      return { at, node: n.name, role, streaming: pg.streaming, upstream: pg.upstream };
    });
  }

  async run(): Promise<SimResult> {
    this.etcd.start();
    for (const n of this.nodes) this.sched.after(this.rng.int(0, 1500), () => n.agent.boot());
    this.sched.after(2000, () => this.clients.start());
    for (const f of this.faults) this.sched.at(f.at, () => this.applyFault(f.fault));
    this.#triggers = [...(this.config.triggers ?? [])];
    const healAt = BOOT_MS + this.config.faultSeconds * 1000;
    await this.#runUntil(healAt);

    const states: NodeStateSample[] = [];
    let convergedAt: number | null = null;
    if (this.violations.length === 0) {
      this.sched.at(healAt, () => this.healAll());
      const end = healAt + this.config.livenessSeconds * 1000;
      let nextSample = healAt;
      await this.#runUntil(end, () => {
        const now = this.sched.now;
        if (now < nextSample) return false;
        nextSample = now + SAMPLE_MS;
        const snap = this.#sample(now);
        states.push(...snap);
        const ok = converged(snap);
        if (ok && convergedAt === null) convergedAt = now;
        if (!ok) convergedAt = null;
        // Converged and stable: no need to simulate the rest of the bound.
        return convergedAt !== null && now - convergedAt >= STABLE_MS;
      });
    }
    this.clients.stop();
    const convergenceMs = this.violations.length === 0 ? convergenceTime(states.filter((s) => s.role !== 'primary-without-key'), healAt) : null;

    let lostAcked = 0;
    if (this.violations.length === 0) {
      const last = states.slice(-this.nodes.length);
      if (convergedAt === null || !converged(last)) {
        const desc = last.map((s) => `${s.node}=${s.role}${s.role === 'replica' ? (s.streaming ? `(streaming from ${s.upstream})` : '(not streaming)') : ''}`).join(' ');
        this.#violate('no-convergence', `not converged ${this.config.livenessSeconds} s after the heal (one primary holding the key, all others streaming from it): ${desc}`);
      } else {
        const primary = this.nodes.find((x) => x.pg.writable)!;
        const d = primary.pg.data!;
        const mode = this.settings.synchronousMode ? 'sync' : 'async';
        const report = checkLostWrites(this.clients.acks, writeIdsUpTo(d.branch, d.flush), mode);
        lostAcked = report.lost.length;
        if (!report.ok) {
          this.#violate('lost-acked-write', `acknowledged writes missing on the final primary ${primary.name}: ${report.lost.slice(0, 10).join(', ')}`);
        }
      }
      const exemptIds = new Set(this.clients.exemptAcks.map((a) => a.id));
      const stale = checkStaleAcks(this.clients.acks.filter((a) => !exemptIds.has(a.id)), this.promotions);
      if (!stale.ok) {
        const s = stale.stale[0]!;
        this.#violate('stale-ack', `${stale.stale.length} write(s) acknowledged by a demoted primary, first: write ${s.id} by ${s.node} at ${s.at} after ${s.promoted} was promoted at ${s.promotedAt}`);
      }
      const sb = checkSplitBrain(this.clients.samples);
      if (!sb.ok) {
        const w = sb.windows[0]!;
        this.#violate('split-brain-probe', `probe saw ${w.nodes.join(' and ')} writable together during [${w.from}, ${w.to}]`);
      }
    }

    const rules: Record<string, number> = {};
    for (const [k, v] of [...this.#rules].sort((a, b) => (a[0] < b[0] ? -1 : 1))) rules[k] = v;
    return {
      seed: this.config.seed,
      ok: this.violations.length === 0,
      violations: this.violations,
      setup: this.setup,
      faults: this.faults.map((f) => `t=${f.at} ${describeFault(f.fault)}`),
      stats: {
        steps: this.sched.steps,
        simulatedMs: this.sched.now,
        writesAttempted: this.clients.attempted,
        writesAcked: this.clients.acks.length,
        lostAcked,
        promotions: this.promotions.length,
        freezeWindows: this.#freezeWindows,
        freezeAcks: this.clients.exemptAcks.length,
        routedToFrozen: this.clients.routedToExempt,
        guardFences: this.#guardFences,
        staleStatusWrites: this.#staleStatusWrites,
        convergenceMs,
        rules,
      },
      traceHash: this.trace.hash,
      traceLines: this.trace.lines,
      tail: this.trace.tail(40),
      trace: this.trace.all(),
    };
  }
}

/** Let every pending promise continuation run (they are microtasks; this is a macrotask). */
function drainContinuations(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function converged(snap: readonly NodeStateSample[]): boolean {
  const primaries = snap.filter((s) => s.role === 'primary');
  if (primaries.length !== 1) return false;
  const p = primaries[0]!.node;
  return snap.every((s) => s.node === p || (s.role === 'replica' && s.streaming && s.upstream === p));
}


/** The dynamic config (etcd `config`, bootstrap.dcs) that yields these settings. */
export function toDynamicConfig(s: HaSettings): DynamicConfig {
  return {
    ...DEFAULT_DYNAMIC_CONFIG,
    ttl: s.ttlMs / 1000,
    loop_wait: s.loopWaitMs / 1000,
    retry_timeout: s.retryTimeoutMs / 1000,
    maximum_lag_on_failover: s.maximumLagOnFailover,
    primary_start_timeout: s.primaryStartTimeoutMs / 1000,
    check_timeline: s.checkTimeline,
    use_pg_rewind: s.usePgRewind,
    rebuild_on_rewind_failure: s.rebuildOnRewindFailure,
    synchronous_mode: s.synchronousMode,
    synchronous_mode_strict: s.synchronousModeStrict,
    use_slots: false,
  };
}
