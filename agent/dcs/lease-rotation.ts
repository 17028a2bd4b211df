// The agent's etcd lease over its lifetime: keepalive, a fresh grant after it expired, and a move
// to a lease with another TTL when the dynamic `ttl` changes (no restart). Rule 2 needs one number
// from it: until when, on our monotonic clock, every lease that may hold one of our keys is sure
// to live. While our keys move from the old lease to the new one, either may hold them, so the
// answer is the earlier of the two expiries; once they moved and the old lease is revoked, only
// the new one counts. The etcd adapter and the simulator's etcd share this code: only the four
// primitive calls differ.
import type { LeaseRenewal } from '../ports/ports.js';

/** The etcd calls a rotation needs. Each rejects on failure (deadline, refusal). */
export interface LeaseCalls {
  /** Keepalive once; `ttlSeconds` 0 means etcd no longer knows the lease. */
  keepalive(id: string): Promise<{ sentAt: number; ttlSeconds: number }>;
  grant(ttlSeconds: number): Promise<{ sentAt: number; id: string; ttlSeconds: number }>;
  /** Move every key of ours bound to lease `from` onto lease `to` (compare on the lease). */
  rebind(from: string, to: string): Promise<void>;
  /** Revoke a lease; resolves also when etcd no longer knows it. */
  revoke(id: string): Promise<void>;
}

interface HeldLease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Monotonic send time of the last keepalive (or grant) etcd answered. */
  lastSentAt: number;
}

export interface RotationEvents {
  granted(id: string, ttlSeconds: number, why: 'first' | 'expired' | 'ttl changed'): void;
  moved(from: string, to: string, ttlSeconds: number): void;
  moveFailed(from: string, to: string, err: unknown): void;
}

export class LeaseRotation {
  #current: HeldLease | null = null;
  /** The lease our keys are moving away from (null when no move is under way). */
  #retiring: HeldLease | null = null;
  #epoch = 0;
  /** Renewals run one at a time: each sees the state the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly events: RotationEvents) {}

  /** The lease our writes go on (decimal string, as etcd reports it), or null. */
  get id(): string | null {
    return this.#current?.id ?? null;
  }

  /** TTL etcd granted the current lease, or null. */
  get ttlSeconds(): number | null {
    return this.#current?.ttlSeconds ?? null;
  }

  /** etcd said this lease no longer exists: the next renewal grants a fresh one. */
  lost(id: string): void {
    if (this.#current?.id === id) {
      this.#current = null;
      this.#epoch++;
    }
    if (this.#retiring?.id === id) {
      this.#retiring = null;
      this.#epoch++;
    }
  }

  /** Forget every lease (after revoking them on shutdown). */
  forget(): string[] {
    const ids = [this.#current?.id, this.#retiring?.id].filter((x): x is string => x !== undefined);
    this.#current = this.#retiring = null;
    this.#epoch++;
    return ids;
  }

  renew(calls: LeaseCalls, ttlSeconds: number): Promise<LeaseRenewal> {
    const run = this.#queue.then(() => this.#renew(calls, ttlSeconds));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #renew(calls: LeaseCalls, want: number): Promise<LeaseRenewal> {
    let newLease = false;
    // 1. Keep alive every lease that may hold our keys; a failure here fails the renewal.
    for (const held of [this.#current, this.#retiring]) {
      if (!held) continue;
      const r = await calls.keepalive(held.id);
      if (r.ttlSeconds > 0) {
        held.lastSentAt = r.sentAt;
        continue;
      }
      // The keys on it (ours may still have been there) are gone with it.
      newLease = true;
      this.lost(held.id);
    }
    // 2. No lease: grant one. Reported as new: our keys, if any, went with the old one.
    if (!this.#current) {
      const why = this.#epoch === 0 ? 'first' : 'expired';
      if (this.#retiring) this.lost(this.#retiring.id);
      await this.#grant(calls, want, why);
      return this.#report(true);
    }
    // 3. The dynamic ttl changed: a lease with the new TTL. Our keys move onto it at the NEXT
    // renewal, once the lease keeper's deadline already counts both leases: the moment a key
    // lands on the new lease, the deadline in force already ends before that lease can expire.
    if (this.#current.ttlSeconds !== want && !this.#retiring) {
      const old = this.#current;
      await this.#grant(calls, want, 'ttl changed');
      this.#retiring = old;
      return this.#report(newLease);
    }
    // 4. A move under way: move the keys, then revoke the old lease.
    if (this.#retiring) {
      const from = this.#retiring.id;
      const to = this.#current.id;
      try {
        await calls.rebind(from, to);
        await calls.revoke(from);
        this.#retiring = null;
        this.#epoch++;
        this.events.moved(from, to, this.#current.ttlSeconds);
      } catch (err) {
        // Both leases were kept alive above and both still count; tried again next renewal.
        this.events.moveFailed(from, to, err);
      }
    }
    return this.#report(newLease);
  }

  async #grant(calls: LeaseCalls, want: number, why: 'first' | 'expired' | 'ttl changed'): Promise<void> {
    const g = await calls.grant(want);
    this.#current = { id: g.id, ttlSeconds: g.ttlSeconds, lastSentAt: g.sentAt };
    this.#epoch++;
    this.events.granted(g.id, g.ttlSeconds, why);
  }

  /** The lease that may hold our keys and ends first. */
  #report(newLease: boolean): LeaseRenewal {
    const held = [this.#current, this.#retiring].filter((x): x is HeldLease => x !== null);
    const first = held.reduce((a, b) => (b.lastSentAt + b.ttlSeconds * 1000 < a.lastSentAt + a.ttlSeconds * 1000 ? b : a));
    return { sentAt: first.lastSentAt, ttlMs: first.ttlSeconds * 1000, newLease, epoch: this.#epoch };
  }
}
