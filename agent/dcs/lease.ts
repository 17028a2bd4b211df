// The agent's etcd lease (rule 2) on etcd3. No automatic keepalive: the runtime renews it on its
// own schedule and learns the monotonic time each successful renewal was *sent* and the TTL etcd
// granted. The rotation between TTLs lives in lease-rotation.ts.
import { castGrpcError, type LeaseClient } from 'etcd3';
import type { LeaseRenewal } from '../ports/ports.js';
import type { Logger } from '../log.js';
import { DcsError, type Budget, type CallRunner, type MonotonicClock } from './calls.js';
import { LeaseRotation, type LeaseCalls } from './lease-rotation.js';

/** etcd3's calls behind a LeaseRotation, each inside the caller's budget. */
export class EtcdLease {
  readonly #rotation: LeaseRotation;

  constructor(
    private readonly leases: LeaseClient,
    private readonly runner: CallRunner,
    private readonly clock: MonotonicClock,
    /** Moves our keys from one lease to another (EtcdDcs knows which keys are ours). */
    private readonly rebindKeys: (from: string, to: string, budget: Budget) => Promise<void>,
    log: Logger,
  ) {
    this.#rotation = new LeaseRotation({
      granted: (id, ttl, why) => log.info({ lease: id, ttl, why }, `granted etcd lease (${why})`),
      moved: (from, to, ttl) => log.info({ from, to, ttl }, `our keys moved to lease ${to} with ttl ${ttl} s; lease ${from} revoked`),
      moveFailed: (from, to, err) => log.warn({ from, to, err: String(err) }, 'could not move our keys to the lease with the new ttl yet; both leases are kept alive and count'),
    });
  }

  /** Current lease ID (decimal string, as etcd reports it in a key's `lease`), or null. */
  get id(): string | null {
    return this.#rotation.id;
  }

  /** etcd said this lease no longer exists: the next renewal grants a fresh one. */
  lost(id: string): void {
    this.#rotation.lost(id);
  }

  /** Keepalive our lease(s); grant a new one when there is none, it expired or the TTL changed. */
  renew(budget: Budget, ttlSeconds: number): Promise<LeaseRenewal> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`lease TTL must be a whole number of seconds ≥ 1, got ${ttlSeconds}`);
    return this.#rotation.renew(this.#calls(budget), ttlSeconds);
  }

  /** Revoke our lease(s) so every key on them vanishes at once. */
  async revoke(budget: Budget): Promise<void> {
    const calls = this.#calls(budget);
    for (const id of this.#rotation.forget()) await calls.revoke(id);
  }

  #calls(budget: Budget): LeaseCalls {
    const run = <T>(what: string, call: (opts: { deadline: Date }) => Promise<T>): Promise<T> =>
      this.runner.run(what, budget, call, { idempotent: true });
    return {
      keepalive: async (id) => {
        let sentAt = 0;
        const ttlSeconds = await run('lease keepalive', (opts) => {
          sentAt = this.clock.now();
          return keepaliveOnce(this.leases, id, opts);
        });
        return { sentAt, ttlSeconds };
      },
      grant: async (ttl) => {
        let sentAt = 0;
        const res = await run('lease grant', async (opts) => {
          sentAt = this.clock.now();
          const r = await this.leases.leaseGrant({ TTL: ttl }, opts);
          if (r.error) throw new Error(`lease grant refused: ${r.error}`);
          return r;
        });
        return { sentAt, id: res.ID, ttlSeconds: Number(res.TTL) };
      },
      rebind: (from, to) => this.rebindKeys(from, to, budget),
      revoke: (id) => run('lease revoke', async (opts) => {
        await this.leases.leaseRevoke({ ID: id }, opts);
      }).catch((e: unknown) => {
        if (!(e instanceof DcsError && e.kind === 'no_lease')) throw e;
      }),
    };
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
