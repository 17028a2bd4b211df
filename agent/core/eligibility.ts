// Rule 4: only a caught-up, eligible replica may take over. Pure.
import type { ClusterView, HaSettings, Lsn, MemberRecord, PgView, Tags } from './types.js';

export type Verdict = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly why: string };

/** Bytes between the leader's last published position and `replayed` (0 when unknown). */
export function lagBytes(leaderOptime: Lsn | null | undefined, replayed: Lsn | null): number | null {
  if (leaderOptime === null || leaderOptime === undefined || replayed === null) return null;
  return Math.max(0, leaderOptime - replayed);
}

export function neverPromote(tags: Tags): string | null {
  if (tags.nofailover) return 'tagged nofailover';
  if (tags.failoverPriority <= 0) return 'failover_priority is 0';
  return null;
}

interface Candidate {
  readonly name: string;
  readonly tags: Tags;
  readonly running: boolean;
  readonly role: 'primary' | 'replica' | 'uninitialized' | null;
  readonly timeline: number | null;
  readonly replayedLsn: Lsn | null;
}

/**
 * May this replica be promoted? Eligibility compares the *replayed* position with the leader's
 * last published optime (what it could serve right away); who is further ahead is decided
 * later on *received* positions (see race.ts).
 */
export function isEligible(c: Candidate, cluster: ClusterView, settings: HaSettings): Verdict {
  const never = neverPromote(c.tags);
  if (never) return { ok: false, why: never };
  if (!c.running) return { ok: false, why: 'PostgreSQL is not running' };
  if (c.role !== 'replica') return { ok: false, why: `role is ${c.role ?? 'unknown'}, not replica` };
  const clusterTimeline = cluster.status?.timeline ?? null;
  if (settings.checkTimeline && clusterTimeline !== null && c.timeline !== null && c.timeline < clusterTimeline) {
    return { ok: false, why: `on timeline ${c.timeline}, cluster is on ${clusterTimeline}` };
  }
  const lag = lagBytes(cluster.status?.optime, c.replayedLsn);
  if (lag !== null && cluster.status?.shutdown === true && lag > 0) {
    return { ok: false, why: `the former primary stopped cleanly at ${cluster.status.optime} and no replica confirmed it: only one with all of it may take over (replay lag ${lag} bytes)` };
  }
  if (lag !== null && lag > settings.maximumLagOnFailover) {
    return { ok: false, why: `replay lag ${lag} bytes > maximum_lag_on_failover ${settings.maximumLagOnFailover}` };
  }
  // In synchronous mode the `sync` key names who holds every acknowledged commit: its standbys
  // and its leader. The leader counts too (Patroni: sync.matches(name, check_leader=True)): a
  // primary lost while `sync` named no standby (non-strict, none available, or just promoted)
  // comes back as a replica, and must be able to lead again — otherwise nobody ever could.
  if (settings.synchronousMode && cluster.sync && cluster.sync.leader !== c.name && !cluster.sync.syncStandbys.includes(c.name)) {
    return { ok: false, why: 'synchronous mode and not listed in sync' };
  }
  return { ok: true, detail: lag === null ? 'lag unknown (no published position)' : `lag ${lag} bytes` };
}

export function selfAsCandidate(name: string, tags: Tags, pg: PgView): Candidate {
  return {
    name,
    tags,
    running: pg.process === 'running',
    role: pg.role,
    timeline: pg.timeline,
    replayedLsn: pg.replayedLsn,
  };
}

export function memberAsCandidate(m: MemberRecord): Candidate {
  return {
    name: m.name,
    tags: m.tags,
    running: m.state === 'running',
    role: m.role === 'uninitialized' ? null : m.role,
    timeline: m.timeline,
    replayedLsn: m.replayedLsn,
  };
}

/** Members other than `self` that could take over now, judged from their member keys. */
export function eligibleReplicas(self: string, cluster: ClusterView, settings: HaSettings): string[] {
  return cluster.members
    .filter((m) => m.name !== self && isEligible(memberAsCandidate(m), cluster, settings).ok)
    .map((m) => m.name);
}
