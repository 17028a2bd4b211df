// Keeps the agent's etcd lease alive on its own schedule (independent of slow HA actions) and
// enforces rule 2: while we serve as primary, a timer fires at the lease deadline and fences
// PostgreSQL unless a later renewal has moved the deadline on. It never waits for etcd to fence.
import type { Logger } from '../log.js';
import type { Clock, Timer } from '../clock.js';
import { afterRenewal, renewIntervalMs, type LeaseState } from '../core/lease.js';
import type { HaSettings } from '../core/types.js';
import type { Dcs, FenceGuard } from '../ports/ports.js';

export interface LeaseKeeperDeps {
  readonly dcs: Pick<Dcs, 'renewLease'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Current settings (they may change with the dynamic config). */
  readonly settings: () => HaSettings;
  /** Called when the deadline passes while armed. Must stop PostgreSQL accepting writes. */
  readonly fence: (reason: string) => Promise<void>;
  /** Called after a renewal that had to grant a new lease (keys on the old one are gone). */
  readonly onNewLease: () => void;
  /** Called after every successful renewal with the new deadline. */
  readonly onRenewed?: (deadline: number, sentAtWall: number) => void;
  /** The out-of-process fence guard (watchdog), fed wherever the fence timer is (re)scheduled. */
  readonly guard?: FenceGuard;
}

export class LeaseKeeper {
  #state: LeaseState | null = null;
  #armed = false;
  #renewTimer: Timer | null = null;
  #fenceTimer: Timer | null = null;
  #stopped = true;
  #inFlight: Promise<void> | null = null;
  #failures = 0;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** Monotonic instant our right to be primary ends, or null before the first renewal. */
  get deadline(): number | null {
    return this.#state?.deadline ?? null;
  }

  /** No guard, or one that can fence: PostgreSQL may be made (or stay) writable. */
  get guardReady(): boolean {
    return this.deps.guard?.healthy() ?? true;
  }

  /** Start renewing periodically; the first renewal is the caller's renewNow(). */
  start(): void {
    this.#stopped = false;
    this.#schedule(renewIntervalMs(this.deps.settings()));
  }

  stop(): void {
    this.#stopped = true;
    this.#renewTimer?.cancel();
    this.#fenceTimer?.cancel();
    this.#renewTimer = this.#fenceTimer = null;
    this.deps.guard?.disarm();
  }

  /** Renew now (e.g. right before taking the leader key) and wait for the outcome. */
  async renewNow(): Promise<boolean> {
    if (this.#inFlight) await this.#inFlight;
    return this.#renew();
  }

  /**
   * While armed (we serve as primary), passing the deadline fences PostgreSQL. Arming again
   * re-checks at once: a primary that became writable only after its deadline (a start or a
   * promotion that took longer than the lease had left) is fenced right away.
   */
  arm(armed: boolean): void {
    if (this.#armed === armed && !armed) return;
    this.#armed = armed;
    this.#scheduleFence();
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#renewTimer?.cancel();
    this.#renewTimer = this.deps.clock.setTimer(delay, () => {
      const p = this.#renew().then(() => undefined);
      this.#inFlight = p;
      void p.finally(() => {
        if (this.#inFlight === p) this.#inFlight = null;
        // After a failed renewal try again soon: waiting a whole interval after a timeout could
        // let the deadline pass on a single slow round trip.
        this.#schedule(this.#failures > 0 ? Math.min(100, renewIntervalMs(this.deps.settings())) : renewIntervalMs(this.deps.settings()));
      });
    });
  }

  async #renew(): Promise<boolean> {
    const settings = this.deps.settings();
    try {
      // The lease's TTL follows the dynamic ttl; the deadline follows what etcd granted.
      const r = await this.deps.dcs.renewLease(Math.round(settings.ttlMs / 1000));
      const effect = afterRenewal(this.#state, r, this.#armed);
      if (effect.fenceNow) {
        this.deps.logger.error({ action: 'fence' }, 'etcd lease expired and was re-granted while primary: fencing PostgreSQL');
        void this.deps.fence('lease expired and was re-granted; the leader key is gone');
      }
      this.#state = { deadline: effect.deadline, epoch: effect.epoch };
      if (this.#failures > 0) this.deps.logger.info({ failures: this.#failures }, 'lease renewal recovered');
      this.#failures = 0;
      this.#scheduleFence();
      // The wall-clock instant of the send, derived from the monotonic one (display only).
      this.deps.onRenewed?.(effect.deadline, this.deps.clock.wallNow() - (this.deps.clock.now() - r.sentAt));
      if (r.newLease) this.deps.onNewLease();
      return true;
    } catch (err) {
      this.#failures++;
      const left = this.deadline === null ? null : Math.round(this.deadline - this.deps.clock.now());
      this.deps.logger.warn({ err: String(err), failures: this.#failures, ms_to_deadline: left }, 'lease renewal failed');
      return false;
    }
  }

  #scheduleFence(): void {
    this.#fenceTimer?.cancel();
    this.#fenceTimer = null;
    const guard = this.deps.guard;
    if (!this.#armed || this.#stopped) {
      guard?.disarm();
      return;
    }
    const deadline = this.deadline;
    if (guard && deadline !== null) {
      if (guard.healthy()) guard.arm(deadline);
      else void this.deps.fence('the fence guard (watchdog) is not working');
    }
    const delay = deadline === null ? 0 : deadline - this.deps.clock.now();
    // Already past it (armed late: a start or promotion outlasted the lease): fence now, not on
    // the next timer tick.
    if (delay <= 0) {
      this.#fenceNow(deadline);
      return;
    }
    this.#fenceTimer = this.deps.clock.setTimer(delay, () => {
      this.#fenceTimer = null;
      if (!this.#armed) return;
      const now = this.deadline;
      if (now !== null && this.deps.clock.now() < now) {
        this.#scheduleFence();
        return;
      }
      this.#fenceNow(now);
    });
  }

  #fenceNow(deadline: number | null): void {
    this.deps.logger.error({ action: 'fence', deadline }, 'lease deadline reached without a successful renewal: fencing PostgreSQL now');
    void this.deps.fence('lease deadline reached without a successful renewal');
  }
}
