// The client host: HAProxy routing the read-write port by each agent's GET /primary (the rendered
// config's defaults: inter 500 ms, timeout check 1 s, fall 1, rise 1, on-marked-down
// shutdown-sessions), a writer that keeps committing through it, and the split-brain probe that
// asks every node directly whether it would accept a write.
import type { AckedWrite, WriteSample } from '../../agent/chaos/invariants.js';
import type { SimAgent } from './agent.js';
import type { Scheduler } from './clock.js';
import type { Host, Network } from './network.js';
import type { Rng } from './rng.js';
import type { Trace } from './trace.js';

export const CLIENT: Host = 'client';

const CHECK_INTER_MS = 500;
const CHECK_TIMEOUT_MS = 1000;
const WRITE_TIMEOUT_MS = 2000;
const PROBE_EVERY_MS = 250;

export interface ClientEnv {
  readonly sched: Scheduler;
  readonly net: Network;
  readonly rng: Rng;
  readonly trace: Trace;
  readonly agents: readonly SimAgent[];
  /** Is this node's writability exempt from the split-brain check (its agent is frozen)? */
  exempt(name: string): boolean;
}

interface Session {
  readonly id: number;
  readonly server: string;
  alive: boolean;
}

export class Clients {
  readonly acks: AckedWrite[] = [];
  /** Acknowledgements from a node whose agent was frozen past its lease (reported apart). */
  readonly exemptAcks: AckedWrite[] = [];
  readonly samples: WriteSample[] = [];
  attempted = 0;
  failed = 0;
  /** HAProxy sent a session to a server whose agent was frozen past its lease deadline. */
  routedToExempt = 0;
  readonly #up = new Map<string, boolean>();
  #session: Session | null = null;
  #sessions = 0;
  #writeSeq = 0;
  #stopped = false;

  constructor(private readonly env: ClientEnv) {}

  start(): void {
    for (const a of this.env.agents) {
      this.#up.set(a.name, false);
      this.env.sched.after(this.env.rng.int(0, CHECK_INTER_MS), () => this.#check(a));
    }
    this.env.sched.after(100, () => this.#writeLoop());
    this.env.sched.after(PROBE_EVERY_MS, () => this.#probe());
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Servers HAProxy currently routes read-write traffic to. */
  upServers(): string[] {
    return [...this.#up].filter(([, up]) => up).map(([n]) => n).sort();
  }

  // --- HAProxy health checks ------------------------------------------------------------------

  #check(a: SimAgent): void {
    if (this.#stopped) return;
    let answered = false;
    const finish = (healthy: boolean): void => {
      if (answered) return;
      answered = true;
      this.#setUp(a.name, healthy);
      this.env.sched.after(CHECK_INTER_MS, () => this.#check(a));
    };
    this.env.sched.after(CHECK_TIMEOUT_MS, () => finish(false));
    this.env.net.send(CLIENT, a.host, () => {
      a.proc.gate(() => {
        const healthy = a.primaryHealthy();
        this.env.net.send(a.host, CLIENT, () => finish(healthy));
      })();
    });
  }

  #setUp(name: string, up: boolean): void {
    if (this.#up.get(name) === up) return;
    this.#up.set(name, up);
    this.env.trace.log('haproxy', `${name} is ${up ? 'UP' : 'DOWN'} for read-write (servers up: ${this.upServers().join(',') || 'none'})`);
    if (!up && this.#session?.server === name) {
      this.#session.alive = false; // on-marked-down shutdown-sessions
      this.#session = null;
    }
  }

  // --- the writer -------------------------------------------------------------------------------

  #writeLoop(): void {
    if (this.#stopped) return;
    if (!this.#session) {
      const server = this.upServers()[0];
      if (!server) {
        this.env.sched.after(100, () => this.#writeLoop());
        return;
      }
      if (this.env.exempt(server)) this.routedToExempt++;
      this.#session = { id: ++this.#sessions, server, alive: true };
    }
    const session = this.#session;
    const id = ++this.#writeSeq;
    const size = this.env.rng.int(200, 8000);
    this.attempted++;
    let settled = false;
    const next = (): void => {
      this.env.sched.after(this.env.rng.int(40, 250), () => this.#writeLoop());
    };
    const settle = (ok: boolean, ackedAt: number | null): void => {
      if (settled) return;
      settled = true;
      if (ok && session.alive && ackedAt !== null) {
        const ack: AckedWrite = { id, node: session.server, at: ackedAt };
        this.acks.push(ack);
        if (this.env.exempt(session.server)) this.exemptAcks.push(ack);
        this.env.trace.log('writer', `write ${id} acknowledged by ${session.server}`, true);
      } else {
        this.failed++;
        if (this.#session === session) this.#session = null; // reconnect through HAProxy
      }
      next();
    };
    this.env.sched.after(WRITE_TIMEOUT_MS, () => settle(false, null));
    const agent = this.env.agents.find((a) => a.name === session.server)!;
    this.env.net.send(CLIENT, agent.host, () => {
      if (!session.alive) return;
      agent.pg.write(id, size, (ok) => {
        const at = this.env.sched.now;
        this.env.net.send(agent.host, CLIENT, () => settle(ok, at), false);
      });
    }, false);
  }

  // --- the split-brain probe ------------------------------------------------------------------

  #probe(): void {
    if (this.#stopped) return;
    const at = this.env.sched.now;
    for (const a of this.env.agents) {
      if (this.env.exempt(a.name)) continue;
      this.samples.push({ at, node: a.name, writable: a.pg.writable });
    }
    this.env.sched.after(PROBE_EVERY_MS, () => this.#probe());
  }
}
