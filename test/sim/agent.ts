// A simulated node's agent: the SHIPPED runtime (HaLoop with its LeaseKeeper, actions, race
// runner, sync manager, handover and shutdown) wired to simulated ports: etcd (ports/dcs.ts),
// PostgreSQL (ports/postgres.ts), peers' REST API, and a clock whose timers fire in simulated time.
// Its log lines (pino, as the daemon writes them) become trace lines; decisions are read from them.
import type { Clock } from '../../agent/clock.js';
import type { DynamicConfig } from '../../agent/config/types.js';
import { toHaSettings } from '../../agent/config/dynamic.js';
import type { HaSettings, Tags } from '../../agent/core/types.js';
import { createLogger, type Logger } from '../../agent/log.js';
import { healthCheck } from '../../agent/api/health.js';
import { buildStatusDoc } from '../../agent/api/status-doc.js';
import { toPeerStatus } from '../../agent/api/peer-client.js';
import { HaLoop } from '../../agent/runtime/ha-loop.js';
import { NodeStateStore, initialNodeState } from '../../agent/runtime/node-state.js';
import { FatalAgentError } from '../../agent/runtime/errors.js';
import { shutDown } from '../../agent/runtime/shutdown.js';
import type { Identity } from '../../agent/runtime/member-record.js';
import type { HostClock, Scheduler } from './clock.js';
import type { SimEtcd } from './etcd.js';
import type { Host, Network } from './network.js';
import type { SimPostgres } from './postgres.js';
import { Proc } from './proc.js';
import type { Rng } from './rng.js';
import type { Trace } from './trace.js';
import { SimDcs } from './ports/dcs.js';
import { SimPgNode } from './ports/postgres.js';
import { simPeerStatusFetcher } from './ports/peers.js';
import { SimGuard } from './guard.js';

export interface AgentEnv {
  readonly sched: Scheduler;
  readonly net: Network;
  readonly etcd: SimEtcd;
  readonly trace: Trace;
  readonly rng: Rng;
  /** The node file's bootstrap.dcs (used until etcd holds a config). */
  readonly bootstrapConfig: DynamicConfig;
  /** Wall-clock epoch ms at global time 0 (display and history timestamps only). */
  readonly wallEpochMs: number;
  agent(name: string): SimAgent | undefined;
  /** decide() chose `rule` (read from the agent's decision log line). */
  decided(agent: SimAgent, rule: string): void;
  /** The agent stopped on a fatal error or hit a bug in the runtime: the simulation fails. */
  fatal(agent: SimAgent, why: string): void;
  /** The agent just sent the etcd operation `what` (scenario triggers). */
  requestSent(agent: SimAgent, what: string): void;
  /** A `status` write reached etcd; `holder` is who the leader key named then. */
  statusWritten(writer: string, holder: string | null): void;
  /** The fence guard (watchdog) each agent runs, or null for none (watchdog.mode off). */
  readonly guard: { readonly broken: boolean; fired(agent: SimAgent): void } | null;
}

/** One incarnation of the agent process. */
interface Running {
  readonly loop: HaLoop;
  readonly logger: Logger;
  readonly dcs: SimDcs;
  readonly pg: SimPgNode;
  readonly store: NodeStateStore;
  readonly clock: Clock;
  readonly guard: SimGuard | null;
}

/** An error of this kind escaping an HA cycle is a bug in the runtime, not a simulated failure. */
const RUNTIME_BUG = /^(TypeError|ReferenceError|RangeError|SyntaxError)\b/;

export class SimAgent {
  readonly proc: Proc;
  readonly host: Host;
  readonly identity: Identity;
  #run: Running | null = null;

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

  get settings(): HaSettings {
    return this.#run?.loop.settings ?? toHaSettings(this.env.bootstrapConfig);
  }

  /** The lease deadline the agent believes in (rule 2), for the invariant checks. */
  get leaseDeadlineNow(): number | null {
    return this.#run?.loop.lease.deadline ?? null;
  }

  get holdsKey(): boolean {
    return this.#run?.loop.holdsLeaderKey ?? false;
  }

  /** Our current etcd lease (null before the first grant or after losing it). */
  get leaseId(): number | null {
    return this.#run?.dcs.leaseId ?? null;
  }

  #log(line: string, quiet = false): void {
    this.env.trace.log(this.name, line, quiet);
  }

  boot(): void {
    this.proc.boot();
    const { env, proc } = this;
    const clock: Clock = {
      now: () => this.clock.now(),
      wallNow: () => env.wallEpochMs + env.sched.now,
      setTimer: (ms, fn) => proc.timer(ms, fn),
    };
    const logger = createLogger({ level: 'debug', format: 'json', destination: { write: (line: string) => { this.#logLine(line); return true; } } as never });
    const settings = toHaSettings(env.bootstrapConfig);
    const store = new NodeStateStore(initialNodeState({ name: this.name, scope: 'sim', version: 'sim', tags: this.tags, settings }));
    let loop: HaLoop | null = null;
    const dcs = new SimDcs({
      name: this.name, host: this.host, proc, etcd: env.etcd,
      retryTimeoutMs: () => (loop?.settings ?? settings).retryTimeoutMs,
      requestSent: (what) => env.requestSent(this, what),
      statusWritten: (holder) => env.statusWritten(this.name, holder),
      log: (line) => this.#log(line),
    });
    const pg = new SimPgNode({ proc, pg: this.pg, net: env.net, rng: env.rng, peer: (n) => env.agent(n)?.pg });
    // The guard is a process of its own: the agent's freeze does not stop it.
    const g = env.guard;
    const guard = g ? new SimGuard({
      sched: env.sched, clock: this.clock, pg: this.pg, broken: g.broken,
      log: (line) => this.#log(line), fired: () => g.fired(this),
    }) : null;
    loop = new HaLoop({
      identity: this.identity, scope: 'sim', dcs, pg, store, clock, logger,
      race: { fetchPeer: simPeerStatusFetcher({ proc, host: this.host, net: env.net, peer: (n) => env.agent(n) }), toPeerStatus },
      bootstrapConfig: env.bootstrapConfig,
      toSettings: toHaSettings,
      ...(guard ? { guard } : {}),
    });
    this.#run = { loop, logger, dcs, pg, store, clock, guard };
    this.#log('agent started');
    const inc = proc.incarnation;
    loop.run().catch((err: unknown) => {
      if (proc.incarnation !== inc) return;
      const why = err instanceof FatalAgentError ? err.message : `the HA loop stopped: ${String(err)}`;
      this.#log(`FATAL: ${why}`);
      env.fatal(this, why);
      this.kill();
    });
  }

  kill(): void {
    this.proc.kill();
    // The real guard outlives its agent only to fence the postmaster it was armed for, which
    // dies with the agent anyway (pdeathsig); a restarted agent starts a guard of its own.
    this.#run?.guard?.disarm();
    this.#run?.dcs.unwatch();
    this.#run = null;
  }

  /** SIGTERM: the daemon's clean stop (handover when primary), then the process exits. */
  sigterm(exited: () => void): void {
    const r = this.#run;
    if (!r || !this.proc.alive) return;
    const inc = this.proc.incarnation;
    this.#log('SIGTERM');
    void shutDown({ name: this.name, loop: r.loop, dcs: r.dcs, pg: r.pg, store: r.store, logger: r.logger }, 'SIGTERM').then(() => {
      if (this.proc.incarnation !== inc) return;
      this.#log('stopped (SIGTERM)');
      this.kill();
      exited();
    });
  }

  /** GET /status, as api/status-doc.ts builds it from the published snapshot. */
  statusDocument(): unknown {
    return this.#run ? buildStatusDoc(this.#run.store.get()) : null;
  }

  /** GET /primary, as api/health.ts answers HAProxy from the published snapshot. */
  primaryHealthy(): boolean {
    const r = this.#run;
    return r !== null && healthCheck('/primary', {}, r.store.get(), r.clock.now()).status === 200;
  }

  /** A pino line of the runtime: a trace line (debug lines only in full traces); decisions counted. */
  #logLine(line: string): void {
    const o = JSON.parse(line) as { level: number; msg?: string; rule?: string; action?: string; err?: string; reason?: string };
    if (typeof o.rule === 'string' && o.action !== undefined && o.reason !== undefined) this.env.decided(this, o.rule);
    if (o.msg === 'HA cycle failed' && typeof o.err === 'string' && RUNTIME_BUG.test(o.err)) {
      this.env.fatal(this, `runtime error in an HA cycle: ${o.err.split('\n').slice(0, 3).join(' | ')}`);
    }
    const text = o.rule ? `decide ${o.rule} → ${o.action}: ${o.msg ?? ''}` : `${o.msg ?? ''}${o.err ? ` (${o.err.split('\n')[0]})` : ''}`;
    this.#log(text, o.level < 30);
  }
}
