// The clock and timers port. Code under agent/runtime, agent/dcs, agent/postgres and agent/api
// reads time and sets timers only through a Clock it was given: the daemon passes systemClock,
// the simulator a simulated clock whose timers fire in simulated time.
import { performance } from 'node:perf_hooks';

/** A pending timer; cancel() is safe to call more than once and after it fired. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (never jumps). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (for timestamps shown to people). */
  wallNow(): number;
  /**
   * Call `fn` once after `ms` monotonic milliseconds. `background` timers do not keep the
   * process alive on their own (Node's unref()).
   */
  setTimer(ms: number, fn: () => void, opts?: { background?: boolean }): Timer;
  /**
   * The instant `at` (on this clock) as CLOCK_MONOTONIC nanoseconds, the clock every process on
   * the host shares (the fence guard's deadline). Only a clock backed by the host's monotonic
   * clock has it.
   */
  hostMonotonicNs?(at: number): bigint;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(ms, fn, opts) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (opts?.background) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  // process.hrtime.bigint() is CLOCK_MONOTONIC on Linux. Read it first: a pause between the two
  // reads can only make the result earlier (safe for a deadline), never later.
  hostMonotonicNs(at) {
    const base = process.hrtime.bigint();
    return base + BigInt(Math.round((at - performance.now()) * 1e6));
  },
};

/** Resolve after `ms` on `clock`, or at once when `signal` aborts. */
export function sleep(clock: Pick<Clock, 'setTimer'>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const t = clock.setTimer(ms, done);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      t.cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Call `fn` every `ms` until the returned timer is cancelled. */
export function every(clock: Pick<Clock, 'setTimer'>, ms: number, fn: () => void, opts?: { background?: boolean }): Timer {
  let current: Timer | null = null;
  let cancelled = false;
  const arm = (): void => {
    current = clock.setTimer(ms, () => {
      if (cancelled) return;
      arm();
      fn();
    }, opts);
  };
  arm();
  return { cancel: () => { cancelled = true; current?.cancel(); } };
}

/** Reject with `onTimeout()` unless `work` settles within `ms` on `clock`. */
export function withDeadline<T>(clock: Pick<Clock, 'setTimer'>, work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = clock.setTimer(ms, () => reject(onTimeout()));
    work.then((v) => { t.cancel(); resolve(v); }, (e: unknown) => { t.cancel(); reject(e); });
  });
}
