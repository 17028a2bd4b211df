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
  it('moves the deadline to the send time + ttl − margin', () => {
    expect(afterRenewal(null, { sentAt: 100, newLease: false }, false, TTL)).toEqual({ deadline: leaseDeadline(100, TTL), fenceNow: false });
    expect(afterRenewal(leaseDeadline(100, TTL), { sentAt: 900, newLease: false }, true, TTL).deadline).toBe(leaseDeadline(900, TTL));
  });

  it('never moves it backwards (a late answer to an older request)', () => {
    expect(afterRenewal(leaseDeadline(900, TTL), { sentAt: 100, newLease: false }, true, TTL).deadline).toBe(leaseDeadline(900, TTL));
  });

  it('fences at once when a NEW lease had to be granted while serving as primary (the key went with the old one)', () => {
    expect(afterRenewal(leaseDeadline(100, TTL), { sentAt: 5000, newLease: true }, true, TTL).fenceNow).toBe(true);
    // Not armed (not a primary): nothing to fence; the new lease simply counts.
    expect(afterRenewal(leaseDeadline(100, TTL), { sentAt: 5000, newLease: true }, false, TTL)).toEqual({ deadline: leaseDeadline(5000, TTL), fenceNow: false });
  });
});
