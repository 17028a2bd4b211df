// A simulated OS process and cooperative tasks inside it. The agent's code is written as
// generator functions that `yield` an operation (sleep, RPC, PostgreSQL call) and resume with its
// result, so it reads like the runtime's async/await code while every step is an event of the
// one deterministic scheduler. A killed process drops everything it had pending; a frozen
// (SIGSTOP) process keeps everything that arrives and runs it, in order, when thawed.
import type { HostClock, Scheduler } from './clock.js';

/** Arranges for `resume(result)` to be called later (at most once counts). */
export type Op = (resume: (value: unknown) => void) => void;
/** A cooperative task body: `const x = yield* something()` inside. */
export type Co<T> = Generator<Op, T, unknown>;

/** An operation that failed; helpers turn it into a thrown error inside the task. */
export class SimFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimFailure';
  }
}

/** Ends a task on purpose (e.g. the agent's fatal error) without being a simulator bug. */
export class TaskAbort extends Error {}

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
  gate(fn: () => void): () => void {
    const inc = this.#incarnation;
    return () => {
      if (!this.#alive || inc !== this.#incarnation) return;
      if (this.#frozen) {
        this.#deferred.push(fn);
        return;
      }
      fn();
    };
  }

  /** Run `fn` in this process as soon as possible (after the current event). */
  post(fn: () => void): void {
    this.sched.at(this.sched.now, this.gate(fn));
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
    for (const fn of queued) this.post(fn);
  }
}

export class Task<T> {
  #done = false;
  #value: T | undefined;
  #error: unknown = undefined;
  #failed = false;
  #waiters: Array<() => void> = [];

  get done(): boolean {
    return this.#done;
  }

  settle(ok: boolean, v: unknown): void {
    if (this.#done) return;
    this.#done = true;
    if (ok) this.#value = v as T;
    else {
      this.#failed = true;
      this.#error = v;
    }
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  onDone(f: () => void): void {
    if (this.#done) f();
    else this.#waiters.push(f);
  }

  result(): T {
    if (this.#failed) throw this.#error;
    return this.#value as T;
  }
}

/** Start a task in `proc`. Its first step runs after the current event. */
export function spawn<T>(proc: Proc, body: Co<T>): Task<T> {
  const task = new Task<T>();
  const inc = proc.incarnation;
  const step = (input: unknown, isError: boolean): void => {
    let r: IteratorResult<Op, T>;
    try {
      r = isError ? body.throw(input) : body.next(input);
    } catch (err) {
      // A simulated failure ends the task; anything else is a bug in the simulator: surface it.
      if (!(err instanceof SimFailure) && !(err instanceof TaskAbort)) throw err;
      task.settle(false, err);
      return;
    }
    if (r.done) {
      task.settle(true, r.value);
      return;
    }
    let used = false;
    try {
      r.value((v) => {
        if (used || proc.incarnation !== inc) return;
        used = true;
        proc.post(() => step(v, false));
      });
    } catch (err) {
      // The operation failed before it started: throw that into the task.
      if (!(err instanceof SimFailure) || used) throw err;
      used = true;
      proc.post(() => step(err, true));
    }
  };
  proc.post(() => step(undefined, false));
  return task;
}

/** Wait for another task of the same process; rethrows its error. */
export function* join<T>(task: Task<T>): Co<T> {
  if (!task.done) yield (resume) => task.onDone(() => resume(undefined));
  return task.result();
}

/** Yield an op whose result may be a SimFailure; throw it inside the task. */
export function* perform<T>(op: Op): Co<T> {
  const r = yield op;
  if (r instanceof SimFailure) throw r;
  return r as T;
}
