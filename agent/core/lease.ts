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

/** What one successful lease renewal means for rule 2. */
export interface RenewalEffect {
  /** The new deadline: leaseDeadline(sentAt), never earlier than the previous one. */
  readonly deadline: number;
  /**
   * The renewal had to grant a NEW lease while we serve as primary: the leader key went with the
   * old lease, so fence now rather than let the new lease's deadline keep a primary that no longer
   * holds the key (rule 1).
   */
  readonly fenceNow: boolean;
}

/**
 * The lease keeper's bookkeeping after a renewal succeeded (agent/runtime/lease-keeper.ts and the
 * simulator's copy of it share this). A late success of an older request must not move the
 * deadline backwards.
 */
export function afterRenewal(
  previous: number | null, renewal: { readonly sentAt: number; readonly newLease: boolean }, armed: boolean, ttlMs: number,
): RenewalEffect {
  const next = leaseDeadline(renewal.sentAt, ttlMs);
  return { deadline: previous === null || next > previous ? next : previous, fenceNow: renewal.newLease && armed };
}
