// Small named questions the rules share (pure).
import { eligibleReplicas, isEligible, neverPromote, selfAsCandidate } from '../eligibility.js';
import { asksMeToHandOver, notYetDue, switchoverTarget } from '../switchover.js';
import { syncBarsPromotion } from '../sync.js';
import { invalidLeaderGraceMs, invalidLeaderKey } from '../leader-key.js';
import { recoveryMinWaitMs, recoveryWaitMs, syncBarsRecovery } from '../bootstrap.js';
import {
  type Situation, iLead, keyNamesMe, lastRanAsPrimary, leaderRunning, leaseValid, member, msLeft,
  otherLeader, pgDown, pgPrimary, pgReplica, rewindBackingOff, seconds, startBackingOff,
} from '../situation.js';

/** How long a replica may fail to stream from a running leader before we rewind or rebuild it. */
export function divergenceGraceMs(s: Situation): number {
  return Math.max(5000, 3 * s.settings.loopWaitMs);
}

/** I run a replica of the running leader and have not streamed from it for the grace period. */
export function cutOffFromLeader(s: Situation): boolean {
  return otherLeader(s) !== null && pgReplica(s) && leaderRunning(s) && !s.local.pg.streaming
    && s.local.notStreamingSince !== null && s.local.now - s.local.notStreamingSince >= divergenceGraceMs(s);
}

/** Not streaming past the grace period, on another timeline than the leader's (either way). */
export function offLeaderTimeline(s: Situation): boolean {
  const tl = leaderTimeline(s);
  return cutOffFromLeader(s) && tl !== null && (s.local.pg.timeline ?? 0) !== tl;
}

/**
 * Not streaming past the grace period because the leader refuses our WAL as diverged, on a
 * timeline with the same number as its own: two promotions from one timeline that did not see each
 * other both picked N+1. pg_rewind cannot help ("source and target cluster are on the same
 * timeline": no rewind required); only a fresh base backup can.
 */
export function divergedOnSameTimeline(s: Situation): boolean {
  return cutOffFromLeader(s) && s.local.pg.walDiverged === true;
}

/** I hold the key and PostgreSQL has been down for primary_start_timeout or longer. */
export function downPastStartTimeout(s: Situation): boolean {
  return s.local.pgDownSince !== null && s.local.now - s.local.pgDownSince >= s.settings.primaryStartTimeoutMs;
}

export const notStreamingFor = (s: Situation): string => seconds(s.local.now - (s.local.notStreamingSince ?? s.local.now));

export const leaderName = (s: Situation): string => otherLeader(s) ?? '?';
export const dataEmpty = (s: Situation): boolean => s.local.pg.dataDir === 'empty';
export const initialize = (s: Situation) => s.cluster?.initialize ?? { state: 'absent' as const };
export const selfEligibility = (s: Situation) =>
  isEligible(selfAsCandidate(s.local.name, s.local.tags, s.local.pg), s.cluster!, s.settings);
export const failover = (s: Situation) => s.cluster?.failover ?? null;
export const target = (s: Situation) => switchoverTarget(s.cluster!, s.local.name, s.settings);
export const paused = (s: Situation): boolean => s.cluster?.paused === true;
/** Other members whose key says their PostgreSQL holds a database. */
export const othersWithData = (s: Situation): string[] =>
  (s.cluster?.members ?? []).filter((m) => m.name !== s.local.name && m.role !== 'uninitialized').map((m) => m.name);
/** An operator named me (manual failover): that decides a re-initialization too. */
export const operatorChoseMe = (s: Situation): boolean => s.cluster?.failover?.candidate === s.local.name && s.cluster.failover.leader === undefined;
export const absentFor = (s: Situation): number =>
  s.local.initializeAbsentSince == null ? 0 : s.local.now - s.local.initializeAbsentSince;
export const invalidFor = (s: Situation): number =>
  s.local.invalidLeaderSince == null ? 0 : s.local.now - s.local.invalidLeaderSince;
export const leaderTimeline = (s: Situation): number | null =>
  s.cluster?.status?.timeline ?? member(s, otherLeader(s))?.timeline ?? null;

