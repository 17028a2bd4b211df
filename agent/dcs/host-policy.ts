// The fault handling etcd3 applies to each etcd host. Two jobs:
// - with several hosts, a circuit breaker that opens on the first transport failure, so the next
//   attempts go to the other hosts instead of waiting on a frozen one, and half-opens after
//   HALF_OPEN_AFTER_MS (with one host a breaker buys nothing: there is nowhere else to go);
// - keep a slow host's connection. etcd3 closes a host's gRPC channel (every stream on it, the
//   watch included) on any "recoverable" error, and a deadline exceeded is one. On a slow but
//   live link (300 ms round trips) that turns every attempt that runs past its slice into a
//   reconnect that costs several more round trips, and the agent loses etcd altogether. So a
//   deadline on a host that answered within KEEP_CONNECTION_MS is passed on as a SlowAnswer,
//   which etcd3 does not treat as recoverable: the channel stays. A host silent for longer (a
//   partition, a frozen member) gets the deadline as is, and a fresh connection once it is back.
import {
  circuitBreaker, ConsecutiveBreaker, handleWhen, noop, type CircuitState, type IDefaultPolicyContext, type IPolicy,
} from 'cockatiel';
import { GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import type { Clock } from '../clock.js';

/**
 * How long a host's circuit stays open before one probe call may pass. Short, so a frozen or
 * restarted etcd is used again within about half a second of answering.
 */
export const HALF_OPEN_AFTER_MS = 500;

/** A deadline on a host that answered this recently keeps its connection (see above). */
export const KEEP_CONNECTION_MS = 2000;

/** A deadline exceeded on a host that is slow, not gone: retry, but keep the connection. */
export class SlowAnswer extends Error {
  override readonly name = 'SlowAnswer';
}

export class HostPolicy implements IPolicy {
  declare readonly _altReturn: never;
  readonly #inner: IPolicy;
  readonly #clock: Pick<Clock, 'now'>;
  #lastAnswerAt = Number.NEGATIVE_INFINITY;

  constructor(opts: { breaker: boolean; clock: Pick<Clock, 'now'> }) {
    this.#clock = opts.clock;
    this.#inner = opts.breaker
      ? circuitBreaker(handleWhen((e) => isRecoverableError(e) || e instanceof SlowAnswer), {
        halfOpenAfter: HALF_OPEN_AFTER_MS,
        breaker: new ConsecutiveBreaker(1),
      })
      : noop;
  }

  /** The host answered (successfully or with an error of etcd's own) within the last `ms`. */
  answeredWithin(ms: number): boolean {
    return this.#clock.now() - this.#lastAnswerAt < ms;
  }

  /** A deadline exceeded on this host while it answered recently: slow, not gone (keep its connection). */
  isSlow(e: unknown): boolean {
    return e instanceof GRPCDeadlineExceededError && this.answeredWithin(KEEP_CONNECTION_MS);
  }

  /** The breaker's state (undefined without a breaker). */
  get state(): CircuitState | undefined {
    return (this.#inner as Partial<{ state: CircuitState }>).state;
  }

  get onSuccess(): IPolicy['onSuccess'] {
    return this.#inner.onSuccess;
  }

  get onFailure(): IPolicy['onFailure'] {
    return this.#inner.onFailure;
  }

  execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return this.#inner.execute(async (ctx) => {
      try {
        const result = await fn(ctx);
        this.#lastAnswerAt = this.#clock.now();
        return result;
      } catch (e) {
        if (this.isSlow(e)) throw new SlowAnswer((e as Error).message);
        // etcd answered, with an error of its own (a timeout or a transport error is no answer)
        if (!(e instanceof GRPCDeadlineExceededError) && !(e instanceof SlowAnswer) && !isRecoverableError(e as Error)) {
          this.#lastAnswerAt = this.#clock.now();
        }
        throw e;
      }
    }, signal) as Promise<T>;
  }
}
