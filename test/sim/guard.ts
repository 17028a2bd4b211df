// The simulated fence guard (watchdog): what agent/guard/main.ts does, as a process of its own on
// the node's host. It is NOT gated by the agent's process (a frozen agent does not freeze it);
// the agent's runtime feeds it through the FenceGuard port from its lease keeper. When an armed
// deadline passes unfed it kills the node's PostgreSQL (SIGKILL of the postmaster and every
// backend), `SLACK_MS` before the deadline on the host's clock, like the real guard.
import type { FenceGuard } from '../../agent/ports/ports.js';
import type { HostClock, Scheduler } from './clock.js';
import type { SimPostgres } from './postgres.js';

/** The real guard's default timer slack (agent/guard/client.ts). */
export const GUARD_SLACK_MS = 50;

export interface GuardEnv {
  readonly sched: Scheduler;
  readonly clock: HostClock;
  readonly pg: SimPostgres;
  log(line: string): void;
  /** The guard killed PostgreSQL (a stat). */
  fired(): void;
  /** Sabotage: the guard is fed but never fires. */
  readonly broken: boolean;
}

export class SimGuard implements FenceGuard {
  #generation = 0;
  #armed = false;

  constructor(private readonly env: GuardEnv) {}

  arm(deadline: number): void {
    const gen = ++this.#generation;
    this.#armed = true;
    const { sched, clock } = this.env;
    sched.at(Math.max(sched.now, clock.toGlobal(deadline - GUARD_SLACK_MS)), () => {
      if (gen !== this.#generation || !this.#armed) return;
      this.#armed = false;
      if (this.env.broken) return;
      if (this.env.pg.process === 'stopped' || this.env.pg.process === 'crashed') return;
      this.env.log('guard: lease deadline passed unfed: SIGKILL PostgreSQL');
      this.env.fired();
      this.env.pg.crash();
    });
  }

  disarm(): void {
    this.#generation++;
    this.#armed = false;
  }

  healthy(): boolean {
    return true;
  }
}
