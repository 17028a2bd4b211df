// Deadlines and bounded retries for etcd calls. Every public DCS operation gets one budget of
// retry_timeout; each attempt inside it carries a gRPC deadline and a monotonic timer, so an
// operation rejects on time even when etcd is frozen and the gRPC deadline is slow to fire.
import { isBrokenCircuitError, noop, type IPolicy } from 'cockatiel';
import {
  EtcdLeaseInvalidError, GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError,
} from 'etcd3';
import { sleep, withDeadline, type Clock } from '../clock.js';
import { HostPolicy, SlowAnswer } from './host-policy.js';

/** What a deadline needs: the monotonic clock alone. */
export type MonotonicClock = Pick<Clock, 'now'>;

export type DcsErrorKind = 'timeout' | 'unavailable' | 'rejected' | 'no_lease';

/** What every DCS method rejects with. `cause` holds the last underlying error. */
export class DcsError extends Error {
  readonly kind: DcsErrorKind;
  constructor(kind: DcsErrorKind, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'DcsError';
    this.kind = kind;
  }
}

/** The time left for one DCS operation, measured on the monotonic clock. */
export class Budget {
  readonly totalMs: number;
  readonly #end: number;
  readonly #clock: MonotonicClock;

  constructor(clock: MonotonicClock, totalMs: number) {
    this.#clock = clock;
    this.totalMs = totalMs;
    this.#end = clock.now() + totalMs;
  }

  remaining(): number {
    return this.#end - this.#clock.now();
  }
}

/** Options handed to each attempt; pass them straight to the etcd3 RPC call. */
export interface AttemptOptions {
  readonly deadline: Date;
}

class AttemptTimeout extends Error {}

/** Shortest attempt worth starting, and the pause between attempts (doubling, capped). */
const MIN_ATTEMPT_MS = 10;
const FIRST_PAUSE_MS = 25;
const MAX_PAUSE_MS = 200;
/** Our own timer fires this long after the gRPC deadline, in case gRPC does not. */
const TIMER_GRACE_MS = 20;
/** With several hosts, an attempt gets at least this long (a slow answer is still an answer). */
const MIN_SLICE_MS = 150;
/**
 * …and at least this many times the duration of recent successful attempts (up to half the
 * budget, so a frozen host picked at random cannot eat all of it), so a slow but live link (a
 * WAN, a congested network) is waited for instead of timed out attempt after attempt.
 */
const SLICE_PER_RTT = 2.5;
/** Weight of the newest sample in the smoothed attempt duration (as TCP's SRTT). */
const RTT_GAIN = 0.2;

/**
 * Fault handling for the etcd3 connection pool.
 * - global: no policy; retries are ours (bounded by the operation's deadline, see `CallRunner`).
 * - host: HostPolicy (a circuit breaker with several hosts; slow hosts keep their connection).
 */
export function faultHandling(hostCount: number, clock: MonotonicClock): { global: IPolicy; host: () => IPolicy } {
  return { global: noop, host: () => new HostPolicy({ breaker: hostCount > 1, clock }) };
}

/**
 * May this error be retried? Idempotent operations retry on any transport error; the others only
 * when the request surely did not change anything (blocked by a breaker, or no connection).
 */
function retryable(e: unknown, idempotent: boolean): boolean {
  if (isBrokenCircuitError(e) || e instanceof GRPCUnavailableError) return true;
  if (!idempotent) return false;
  return e instanceof AttemptTimeout || e instanceof SlowAnswer || (e instanceof Error && isRecoverableError(e));
}

function errorKind(e: unknown): DcsErrorKind {
  if (e instanceof EtcdLeaseInvalidError) return 'no_lease';
  if (e instanceof AttemptTimeout || e instanceof SlowAnswer || e instanceof GRPCDeadlineExceededError) return 'timeout';
  if (e instanceof Error && isRecoverableError(e)) return 'unavailable';
  return 'rejected';
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Told the name and duration (seconds) of every DCS operation, e.g. to feed a histogram. */
export type RequestObserver = (op: string, seconds: number) => void;

/** Runs attempts of one operation until one succeeds, a non-retryable error, or the budget ends. */
export class CallRunner {
  readonly #clock: Clock;
  readonly #hostCount: number;
  readonly #onRequest: RequestObserver | undefined;
  /** Smoothed duration of successful attempts, ms (null before the first). */
  #srttMs: number | null = null;
  /** Duration of the last successful attempt, ms. */
  #lastAttemptMs: number | null = null;

  /** `onRequest` learns each operation's name and duration, retries included, failed or not. */
  constructor(clock: Clock, hostCount: number, onRequest?: RequestObserver) {
    this.#clock = clock;
    this.#hostCount = hostCount;
    this.#onRequest = onRequest;
  }

  /** Smoothed duration of recent successful attempts, ms (null before the first success). */
  get smoothedAttemptMs(): number | null {
    return this.#srttMs;
  }

  /**
   * The answer time slices are sized by: the smoothed one, or the last one when that was longer,
   * so the first slow answers after a link slows down stretch the slices at once (the smoothed
   * value alone would take several answers to catch up, and the lease could run out meanwhile).
   */
  #rttMs(): number {
    return Math.max(this.#srttMs ?? 0, this.#lastAttemptMs ?? 0);
  }

  budget(ms: number): Budget {
    return new Budget(this.#clock, ms);
  }

  async run<T>(
    what: string,
    budget: Budget,
    attempt: (opts: AttemptOptions) => Promise<T>,
    opts: { idempotent: boolean },
  ): Promise<T> {
    if (this.#onRequest === undefined) return this.#attempts(what, budget, attempt, opts);
    const started = this.#clock.now();
    try {
      return await this.#attempts(what, budget, attempt, opts);
    } finally {
      try {
        this.#onRequest(what, (this.#clock.now() - started) / 1000);
      } catch {
        // an observer's failure is not the operation's
      }
    }
  }

  async #attempts<T>(
    what: string,
    budget: Budget,
    attempt: (opts: AttemptOptions) => Promise<T>,
    { idempotent }: { idempotent: boolean },
  ): Promise<T> {
    let lastError: unknown = null;
    let pause = FIRST_PAUSE_MS;
    for (let n = 1; ; n++) {
      const remaining = budget.remaining();
      if (remaining < MIN_ATTEMPT_MS) {
        throw new DcsError(
          'timeout',
          `${what}: no answer from etcd within ${budget.totalMs} ms (${n - 1} attempts; last error: ${describe(lastError)})`,
          lastError,
        );
      }
      // With several hosts, do not let one frozen host eat the whole budget.
      const slice = this.#hostCount > 1
        ? Math.min(remaining, Math.max(budget.totalMs / this.#hostCount, MIN_SLICE_MS, Math.min(SLICE_PER_RTT * this.#rttMs(), budget.totalMs / 2)))
        : remaining;
      const started = this.#clock.now();
      try {
        const result = await withTimer(this.#clock, attempt({ deadline: new Date(this.#clock.wallNow() + slice) }), slice + TIMER_GRACE_MS);
        const took = this.#clock.now() - started;
        this.#srttMs = this.#srttMs === null ? took : (1 - RTT_GAIN) * this.#srttMs + RTT_GAIN * took;
        this.#lastAttemptMs = took;
        return result;
      } catch (e) {
        lastError = e;
        if (e instanceof DcsError) throw e;
        if (!retryable(e, idempotent)) throw new DcsError(errorKind(e), `${what}: ${describe(e)}`, e);
      }
      await sleep(this.#clock, Math.min(pause, Math.max(0, budget.remaining() - MIN_ATTEMPT_MS)));
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }
}

function withTimer<T>(clock: Clock, p: Promise<T>, ms: number): Promise<T> {
  return withDeadline(clock, p, ms, () => new AttemptTimeout(`attempt timed out after ${Math.round(ms)} ms`));
}
