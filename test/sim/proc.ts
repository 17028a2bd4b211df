// A simulated OS process. The agent running in it is the shipped runtime (async code); everything
// that reaches it from outside (a timer firing, an answer from etcd, PostgreSQL or a peer, a watch
// event) passes through the process's gate: a killed process drops it, a frozen (SIGSTOP) process
// keeps it and runs it, in arrival order, when thawed. Promise continuations that such a callback
// starts run before the scheduler's next event (World drains them), so one seed is one run.
import type { HostClock, Scheduler } from './clock.js';

export interface Timer {
  cancel(): void;
}

export class Proc {
  #incarnation = 0;
  #alive = false;
  #frozen = false;
  #deferred: Array<() => void> = [];

  constructor(readonly sched: Scheduler, readonly clock: HostClock) {}

  get alive(): boolean {
    return this.#alive;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  /** Wrap a callback so it runs only in this incarnation, and only once thawed. */
  gate<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    const inc = this.#incarnation;
    return (...args: A) => {
      if (!this.#alive || inc !== this.#incarnation) return;
      if (this.#frozen) {
        this.#deferred.push(() => fn(...args));
        return;
      }
      this.sched.ranProcessCode();
      fn(...args);
    };
  }

  /** A timer on this host's clock. */
  timer(ms: number, fn: () => void): Timer {
    let cancelled = false;
    this.sched.at(this.clock.globalAfter(ms), this.gate(() => {
      if (!cancelled) fn();
    }));
    return { cancel: () => { cancelled = true; } };
  }

  boot(): void {
    this.#incarnation++;
    this.#alive = true;
    this.#frozen = false;
    this.#deferred = [];
  }

  kill(): void {
    this.#incarnation++;
    this.#alive = false;
    this.#frozen = false;
    this.#deferred = [];
  }

  freeze(): void {
    if (this.#alive) this.#frozen = true;
  }

  /** SIGCONT: everything that arrived or fell due while frozen runs now, in arrival order. */
  thaw(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    const queued = this.#deferred;
    this.#deferred = [];
    for (const fn of queued) this.sched.at(this.sched.now, this.gate(fn));
  }
}
