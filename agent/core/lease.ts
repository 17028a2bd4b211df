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
