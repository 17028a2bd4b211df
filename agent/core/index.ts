export * from './types.js';
export { decide } from './decide.js';
export { decideRace, type RaceInput } from './race.js';
export { RULES, type Rule } from './rules.js';
export { isEligible, eligibleReplicas, lagBytes, neverPromote } from './eligibility.js';
export { afterRenewal, leaseDeadline, fenceMarginMs, renewIntervalMs, withinLease } from './lease.js';
export { parseLsn, formatLsn } from './lsn.js';
export { slotNameFor, wantedSlots } from './slots.js';
