// Waiting with a deadline. Every wait names what it waits for; on timeout the error says what,
// for how long, and the last value (or error) it observed.
import { inspect } from 'node:util';
import { systemClock, sleep } from '../clock.js';

export interface WaitOptions<T = unknown> {
  timeoutMs: number;
  /** Pause between probes (default 100 ms). */
  intervalMs?: number;
  /** Shown in the timeout error: "waiting for <what>". */
  what: string;
  /** Done when this holds for the probed value; default: the value is truthy. */
  until?: (value: T) => boolean;
  /** Checked before each probe: a string aborts the wait at once with that reason. */
  failIf?: () => string | null | undefined;
}

export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastObserved: unknown,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}; last observed: ${describe(lastObserved)}`);
  }
}

export class WaitAbortedError extends Error {
  override readonly name = 'WaitAbortedError';
  constructor(
    readonly what: string,
    readonly reason: string,
    readonly lastObserved: unknown,
  ) {
    super(`gave up waiting for ${what}: ${reason}; last observed: ${describe(lastObserved)}`);
  }
}

class ProbeTimeout {
  constructor(readonly ms: number) {}
}

function describe(v: unknown): string {
  if (v instanceof ProbeTimeout) return `probe still pending after ${v.ms} ms`;
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  return inspect(v, { depth: 4, breakLength: Infinity, maxStringLength: 2000 });
}

/**
 * Probe until done or the deadline passes. A probe that throws counts as "not yet" (its error is
 * the last observation); a probe that hangs is abandoned at the deadline. Resolves the value that
 * satisfied the condition.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, opts: WaitOptions<T>): Promise<T> {
  const interval = opts.intervalMs ?? 100;
  const start = systemClock.now();
  const deadline = start + opts.timeoutMs;
  const done = opts.until ?? ((v: T) => Boolean(v));
  let last: unknown = undefined;
  for (;;) {
    const reason = opts.failIf?.();
    if (reason) throw new WaitAbortedError(opts.what, reason, last);
    const remaining = deadline - systemClock.now();
    if (remaining <= 0) throw new WaitTimeoutError(opts.what, opts.timeoutMs, last);
    try {
      const value = await withTimeout(Promise.resolve().then(probe), remaining);
      if (value instanceof ProbeTimeout) {
        last = value;
      } else {
        last = value;
        if (done(value)) return value;
      }
    } catch (err) {
      last = err;
    }
    const left = deadline - systemClock.now();
    if (left <= 0) throw new WaitTimeoutError(opts.what, opts.timeoutMs, last);
    await sleep(systemClock, Math.min(interval, left));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | ProbeTimeout> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<ProbeTimeout>((resolve) => {
    timer = setTimeout(() => resolve(new ProbeTimeout(Math.round(ms))), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Resolves the promise's value, or rejects with a message naming `what` after `ms`. */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const r = await withTimeout(p, ms);
  if (r instanceof ProbeTimeout) throw new WaitTimeoutError(what, ms, r);
  return r;
}
