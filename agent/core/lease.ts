// Rule 2 in numbers. The leader's right to be primary ends at t0 + ttl − margin, where t0 is the
// monotonic instant the last successful renewal was *sent* (etcd's own expiry is measured from a
// later instant, so ours always ends first). The margin leaves time to stop PostgreSQL.
import type { HaSettings } from './types.js';

export function fenceMarginMs(ttlMs: number): number {
  return Math.max(500, Math.round(ttlMs * 0.2));
}

export function leaseDeadline(renewalSentAt: number, ttlMs: number): number {
  return renewalSentAt + ttlMs - fenceMarginMs(ttlMs);
}

/** Renew several times within one deadline so one slow round trip is not fatal. */
export function renewIntervalMs(settings: Pick<HaSettings, 'ttlMs' | 'loopWaitMs'>): number {
  return Math.max(100, Math.min(settings.loopWaitMs, Math.floor(settings.ttlMs / 4)));
}

/** Rule 2 at one instant: our right to be primary has not ended (null: it never began). */
export function withinLease(deadline: number | null, now: number): boolean {
  return deadline !== null && now < deadline;
}

/**
 * A successful renewal, as the DCS adapter reports it: every etcd lease that may hold one of our
 * keys lives at least until `sentAt + ttlMs` on our monotonic clock (the adapter reports the pair
 * that ends first, with the TTL etcd actually granted, not the one configured).
 */
export interface RenewalReport {
  readonly sentAt: number;
  readonly ttlMs: number;
  /** The previous lease had expired and a new one was granted (keys on it are gone). */
  readonly newLease: boolean;
  /**
   * Changes whenever the set of leases that may hold our keys changes (a grant, a move to a
   * lease with another TTL). Within one epoch a later send can only end later.
   */
  readonly epoch: number;
}

/** The lease keeper's rule-2 state between renewals. */
export interface LeaseState {
  readonly deadline: number;
  readonly epoch: number;
}

/** What one successful lease renewal means for rule 2. */
export interface RenewalEffect extends LeaseState {
  /**
   * The renewal had to grant a NEW lease while we serve as primary: the leader key went with the
   * old lease, so fence now rather than let the new lease's deadline keep a primary that no longer
   * holds the key (rule 1).
   */
  readonly fenceNow: boolean;
}

/**
 * The lease keeper's bookkeeping after a renewal succeeded (agent/runtime/lease-keeper.ts). The
 * deadline follows the TTL etcd granted. Within one epoch a late success of an older request must
 * not move the deadline backwards; a new epoch (another lease, maybe a shorter TTL) replaces it,
 * even with an earlier one: the old lease's expiry no longer bounds the key.
 */
export function afterRenewal(previous: LeaseState | null, renewal: RenewalReport, armed: boolean): RenewalEffect {
  const next = leaseDeadline(renewal.sentAt, renewal.ttlMs);
  const fenceNow = renewal.newLease && armed;
  if (previous === null || renewal.epoch > previous.epoch) return { deadline: next, epoch: renewal.epoch, fenceNow };
  if (renewal.epoch < previous.epoch) return { ...previous, fenceNow };
  return { deadline: Math.max(next, previous.deadline), epoch: previous.epoch, fenceNow };
}
