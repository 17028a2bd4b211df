export * from './types.js';
export { decide } from './decide.js';
export { decideRace, type RaceInput } from './race.js';
export { RULES } from './rules.js';
export type { Rule } from './rules/rule.js';
export { isEligible, eligibleReplicas, lagBytes, neverPromote } from './eligibility.js';
export { afterRenewal, leaseDeadline, fenceMarginMs, renewIntervalMs, withinLease } from './lease.js';
export { parseLsn, formatLsn } from './lsn.js';
export { slotNameFor, wantedSlots } from './slots.js';
