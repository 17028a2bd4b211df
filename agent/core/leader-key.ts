// A `leader` key no member can own: a malformed value, a value bound to no lease (it would never
// expire), or a name that is no member. Written by hand or by a bug, such a value would stop
// writes for good; after a grace it is deleted (compare on its revision) and the normal race runs.
import type { ClusterView, HaSettings } from './types.js';

/** Why the `leader` key cannot be a live member's, or null when it may be. */
export function invalidLeaderKey(cluster: ClusterView | null): string | null {
  const key = cluster?.leaderKey;
  if (!cluster || !key) return null;
  if (cluster.leader === null) return 'the leader key holds a malformed value';
  if (!key.onLease) return `the leader key names ${cluster.leader} but is bound to no lease (it would never expire)`;
  if (!cluster.members.some((m) => m.name === cluster.leader)) return `the leader key names ${cluster.leader}, which is not a member`;
  return null;
}

/**
 * How long an invalid value must stay unchanged before a member deletes it: a new leader
 * publishes its member key within a cycle, and a key on a lease of a member that just died
 * expires within ttl.
 */
export function invalidLeaderGraceMs(settings: Pick<HaSettings, 'ttlMs' | 'loopWaitMs'>): number {
  return settings.ttlMs + settings.loopWaitMs;
}
