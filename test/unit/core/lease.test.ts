// Rule 2 in numbers, shared by the lease keeper, the actions and the simulator.
import { describe, expect, it } from 'vitest';
import { afterRenewal, leaseDeadline, withinLease } from '../../../agent/core/lease.js';

const TTL = 3000;

describe('withinLease', () => {
  it.each([
    [null, 0, false],
    [1000, 999, true],
    [1000, 1000, false],
    [1000, 5000, false],
  ])('deadline %s at %s → %s', (deadline, now, expected) => {
    expect(withinLease(deadline, now)).toBe(expected);
  });
});

describe('afterRenewal', () => {
  const r = (sentAt: number, o: { newLease?: boolean; epoch?: number; ttlMs?: number } = {}) =>
    ({ sentAt, ttlMs: o.ttlMs ?? TTL, newLease: o.newLease ?? false, epoch: o.epoch ?? 1 });
  const at = (sentAt: number, ttlMs = TTL, epoch = 1) => ({ deadline: leaseDeadline(sentAt, ttlMs), epoch });

  it('moves the deadline to the send time + granted ttl − margin', () => {
    expect(afterRenewal(null, r(100), false)).toEqual({ ...at(100), fenceNow: false });
    expect(afterRenewal(at(100), r(900), true).deadline).toBe(leaseDeadline(900, TTL));
  });

  it('follows the TTL etcd granted, not the configured one', () => {
    expect(afterRenewal(null, r(100, { ttlMs: 10_000 }), false).deadline).toBe(leaseDeadline(100, 10_000));
    expect(afterRenewal(null, r(100, { ttlMs: 3000 }), false).deadline).toBe(leaseDeadline(100, 3000));
  });

  it('never moves it backwards within one epoch (a late answer to an older request)', () => {
    expect(afterRenewal(at(900), r(100), true).deadline).toBe(leaseDeadline(900, TTL));
  });

  it('a new epoch replaces the deadline, earlier too (our keys moved to a lease with a shorter ttl)', () => {
    const long = at(900, 10_000, 1);
    expect(afterRenewal(long, r(1000, { ttlMs: 3000, epoch: 2 }), true)).toEqual({ ...at(1000, 3000, 2), fenceNow: false });
    // An answer from an older epoch changes nothing.
    expect(afterRenewal(at(1000, 3000, 2), r(2000, { ttlMs: 10_000, epoch: 1 }), true)).toEqual({ ...at(1000, 3000, 2), fenceNow: false });
  });

  it('fences at once when a NEW lease had to be granted while serving as primary (the key went with the old one)', () => {
    expect(afterRenewal(at(100), r(5000, { newLease: true, epoch: 2 }), true).fenceNow).toBe(true);
    // Not armed (not a primary): nothing to fence; the new lease simply counts.
    expect(afterRenewal(at(100), r(5000, { newLease: true, epoch: 2 }), false)).toEqual({ ...at(5000, TTL, 2), fenceNow: false });
  });
});
