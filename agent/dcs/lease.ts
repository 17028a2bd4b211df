// The agent's one etcd lease (rule 2). No automatic keepalive: the runtime renews it on its own
// schedule and learns the monotonic time each successful renewal was *sent*.
import { castGrpcError, type LeaseClient } from 'etcd3';
import type { LeaseRenewal } from '../ports/ports.js';
import type { Logger } from '../log.js';
import { DcsError, type Budget, type CallRunner, type MonotonicClock } from './calls.js';

export class LeaseKeeper {
  #id: string | null = null;
  readonly #leases: LeaseClient;
  readonly #runner: CallRunner;
  readonly #clock: MonotonicClock;
  readonly #ttlSeconds: number;
  readonly #log: Logger;

  constructor(leases: LeaseClient, runner: CallRunner, clock: MonotonicClock, ttlSeconds: number, log: Logger) {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`lease TTL must be a whole number of seconds ≥ 1, got ${ttlSeconds}`);
    this.#leases = leases;
    this.#runner = runner;
    this.#clock = clock;
    this.#ttlSeconds = ttlSeconds;
    this.#log = log;
  }

  /** Current lease ID (decimal string, as etcd reports it in a key's `lease`), or null. */
  get id(): string | null {
    return this.#id;
  }

  /** etcd said this lease no longer exists: the next renewal grants a fresh one. */
  lost(id: string): void {
    if (this.#id === id) {
      this.#log.warn({ lease: id }, 'etcd lease is gone; the next renewal grants a new one');
      this.#id = null;
    }
  }

  /** Keepalive our lease; grant a new one when there is none or it expired. */
  async renew(budget: Budget): Promise<LeaseRenewal> {
    const id = this.#id;
    if (id !== null) {
      let sentAt = 0;
      const ttl = await this.#runner.run('lease keepalive', budget, (opts) => {
        sentAt = this.#clock.now();
        return keepaliveOnce(this.#leases, id, opts);
      }, { idempotent: true });
      if (ttl > 0) return { sentAt, newLease: false };
      this.lost(id);
    }
    let sentAt = 0;
    const granted = await this.#runner.run('lease grant', budget, async (opts) => {
      sentAt = this.#clock.now();
      const res = await this.#leases.leaseGrant({ TTL: this.#ttlSeconds }, opts);
      if (res.error) throw new Error(`lease grant refused: ${res.error}`);
      return res.ID;
    }, { idempotent: true });
    this.#id = granted;
    this.#log.info({ lease: granted, ttl: this.#ttlSeconds }, 'granted etcd lease');
    return { sentAt, newLease: true };
  }

  /** Revoke the lease so every key on it vanishes at once. */
  async revoke(budget: Budget): Promise<void> {
    const id = this.#id;
    if (id === null) return;
    this.#id = null;
    await this.#runner.run('lease revoke', budget, async (opts) => {
      await this.#leases.leaseRevoke({ ID: id }, opts);
    }, { idempotent: true }).catch((e: unknown) => {
      if (!(e instanceof DcsError && e.kind === 'no_lease')) throw e;
    });
  }
}

/** One keepalive round trip on a short-lived stream. Resolves the TTL etcd granted (0: lease gone). */
async function keepaliveOnce(leases: LeaseClient, id: string, opts: { deadline: Date }): Promise<number> {
  const stream = await leases.leaseKeepAlive(opts);
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      f();
    };
    stream.on('data', (res) => {
      settle(() => resolve(Number(res.TTL)));
      stream.end();
    });
    stream.on('error', (err) => settle(() => reject(castGrpcError(err))));
    stream.on('end', () => settle(() => reject(new Error('lease keepalive stream ended without an answer'))));
    stream.write({ ID: id });
  });
}
