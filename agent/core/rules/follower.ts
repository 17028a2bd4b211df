// Decision-table rows: another member leads, or nobody does.
import type { Rule } from './rule.js';
import type { Situation } from '../situation.js';
import { divergedOnSameTimeline, leaderName, leaderTimeline, notStreamingFor, offLeaderTimeline, selfEligibility } from './helpers.js';
import { lastRanAsPrimary, leaderRunning, leaseValid, member, otherLeader, pgDown, pgPrimary, pgReplica, rewindBackingOff, seconds } from '../situation.js';

export const FOLLOWER_RULES: readonly Rule[] = [
  // --- another member leads -------------------------------------------------------------------
  {
    id: 'follower.demote',
    when: 'another member holds the leader key and I run a primary',
    action: 'fence',
    applies: (s) => otherLeader(s) !== null && pgPrimary(s),
    reason: (s) => `${leaderName(s)} holds the leader key: I must not accept writes`,
  },
  {
    id: 'follower.switch-upstream',
    when: 'another member leads; I run a replica streaming from someone else',
    action: 'follow',
    applies: (s) => otherLeader(s) !== null && pgReplica(s) && s.local.pg.upstream !== otherLeader(s),
    reason: (s) => `following new leader ${leaderName(s)} (was ${s.local.pg.upstream ?? 'no upstream'})`,
    build: (s) => ({ kind: 'follow', leader: leaderName(s) }),
  },
  {
    // Behind: the leader promoted past a point my WAL already went beyond. Ahead: I followed a
    // primary (onto its new timeline) that is gone, and the leader never saw that timeline.
    // pg_rewind handles both (it decides itself whether anything diverged).
    id: 'follower.diverged',
    when: 'another member leads on another timeline than mine; my replica has not streamed from it for the grace period',
    action: 'rewind',
    applies: offLeaderTimeline,
    reason: (s) => `not streaming from ${leaderName(s)} for ${notStreamingFor(s)} and on timeline ${s.local.pg.timeline ?? '?'}, ${
      (s.local.pg.timeline ?? 0) < (leaderTimeline(s) ?? 0) ? 'behind' : 'ahead of'} its timeline ${leaderTimeline(s)}: my WAL may have diverged; rewinding`,
    build: (s) => ({ kind: 'rewind', leader: leaderName(s) }),
  },
  {
    id: 'follower.diverged-same-timeline',
    when: 'another member leads; it refuses my WAL as diverged although my timeline has its number, for the grace period; rebuilds are allowed',
    action: 'rebuild',
    applies: (s) => divergedOnSameTimeline(s) && s.settings.rebuildOnRewindFailure,
    reason: (s) => `not streaming from ${leaderName(s)} for ${notStreamingFor(s)}: it refuses my WAL as diverged on timeline ${
      s.local.pg.timeline ?? '?'}, the number of its own (pg_rewind cannot rewind between equal timeline IDs); rebuilding from a fresh base backup`,
    build: (s) => ({ kind: 'rebuild', leader: leaderName(s) }),
  },
  {
    id: 'follower.diverged-same-timeline-manual',
    when: 'another member leads; it refuses my WAL as diverged although my timeline has its number; rebuilds are not allowed',
    action: 'wait',
    applies: divergedOnSameTimeline,
    reason: (s) => `${leaderName(s)} refuses my WAL as diverged on timeline ${s.local.pg.timeline ?? '?'}, the number of its own, which pg_rewind cannot rewind, and rebuild_on_rewind_failure is off: manual action needed (pgwarden ctl reinit)`,
  },
  {
    id: 'follower.healthy',
    when: 'another member leads; I run a replica of it',
    action: 'none',
    applies: (s) => otherLeader(s) !== null && pgReplica(s),
    reason: (s) => `replica of leader ${leaderName(s)}${s.local.pg.streaming ? ', streaming' : ', not streaming yet'}`,
  },
  {
    id: 'follower.rebuild-after-rewind-failed',
    when: 'another member leads; pg_rewind found my former-primary data impossible to rewind (no common ancestor, another system, no checksums) and rebuilds are allowed',
    action: 'rebuild',
    applies: (s) => otherLeader(s) !== null && pgDown(s) && s.local.rewindFailed && s.settings.rebuildOnRewindFailure && leaderRunning(s),
    reason: (s) => `pg_rewind cannot rewind my data; rebuilding from a fresh base backup of ${leaderName(s)} (the old data directory is kept aside if postgresql.keep_old_data_dir allows)`,
    build: (s) => ({ kind: 'rebuild', leader: leaderName(s) }),
  },
  {
    id: 'follower.rewind-failed',
    when: 'another member leads; pg_rewind found my data impossible to rewind and rebuilds are not allowed',
    action: 'wait',
    applies: (s) => otherLeader(s) !== null && pgDown(s) && s.local.rewindFailed,
    reason: () => 'pg_rewind cannot rewind my data and rebuild_on_rewind_failure is off: manual action needed (pgwarden ctl reinit)',
  },
  {
    id: 'follower.after-handover',
    when: 'another member leads; I handed over to it cleanly (it confirmed my shutdown checkpoint)',
    action: 'start_replica',
    applies: (s) => otherLeader(s) !== null && pgDown(s) && s.local.cleanHandover,
    reason: (s) => `handed over cleanly to ${leaderName(s)}; starting as its replica without a rewind`,
    build: (s) => ({ kind: 'start_replica', leader: leaderName(s) }),
  },
  {
    id: 'follower.leader-not-running',
    when: 'another member leads but is not running; my data last ran as a primary',
    action: 'wait',
    applies: (s) => otherLeader(s) !== null && pgDown(s) && lastRanAsPrimary(s) && !leaderRunning(s),
    reason: (s) => `my data last ran as a primary; waiting for leader ${leaderName(s)} to run before rewinding`,
  },
  {
    id: 'follower.rewind-retry',
    when: 'another member leads; my former-primary data could not be rewound because of a transient error (source refused, timeout); the retry delay has not passed',
    action: 'wait',
    applies: (s) => otherLeader(s) !== null && pgDown(s) && lastRanAsPrimary(s) && rewindBackingOff(s),
    reason: (s) => {
      const r = s.local.rewindRetry!;
      return `pg_rewind against ${leaderName(s)} failed transiently (${r.attempts} attempt${r.attempts === 1 ? '' : 's'}): ${r.error}; keeping my data and retrying in ${seconds(r.retryAt - s.local.now)}`;
    },
  },
  {
    id: 'follower.rewind',
    when: 'another member leads; PostgreSQL is down and its data last ran as a primary',
    action: 'rewind',
    applies: (s) => otherLeader(s) !== null && pgDown(s) && lastRanAsPrimary(s) && s.settings.usePgRewind,
    reason: (s) => `my data last ran as a primary; rewinding it against ${leaderName(s)} before following`,
    build: (s) => ({ kind: 'rewind', leader: leaderName(s) }),
  },
  {
    id: 'follower.rebuild-no-rewind',
    when: 'another member leads; my data last ran as a primary, use_pg_rewind is off and rebuilds are allowed',
    action: 'rebuild',
    applies: (s) => otherLeader(s) !== null && pgDown(s) && lastRanAsPrimary(s) && s.settings.rebuildOnRewindFailure,
    reason: (s) => `my data last ran as a primary and use_pg_rewind is off; rebuilding from ${leaderName(s)}`,
    build: (s) => ({ kind: 'rebuild', leader: leaderName(s) }),
  },
  {
    id: 'follower.start',
    when: 'another member leads; PostgreSQL is down',
    action: 'start_replica',
    applies: (s) => otherLeader(s) !== null && pgDown(s),
    reason: (s) => `starting PostgreSQL as a replica of ${leaderName(s)}`,
    build: (s) => ({ kind: 'start_replica', leader: leaderName(s) }),
  },
];

export const LEADERLESS_RULES: readonly Rule[] = [
  // --- nobody leads ---------------------------------------------------------------------------
  {
    id: 'leaderless.stale-primary',
    when: 'no leader; I run a primary on an older timeline than the cluster',
    action: 'fence',
    applies: (s) => pgPrimary(s) && s.cluster!.status !== null && (s.local.pg.timeline ?? 0) < s.cluster!.status.timeline,
    reason: (s) => `no leader and my primary is on timeline ${s.local.pg.timeline}, older than the cluster's ${s.cluster!.status?.timeline}`,
  },
  {
    id: 'leaderless.primary-lease-over',
    when: 'no leader; I run a primary and my lease deadline passed',
    action: 'fence',
    applies: (s) => pgPrimary(s) && !leaseValid(s),
    reason: () => 'no leader and my lease deadline passed: stop accepting writes',
  },
  {
    id: 'leaderless.primary-race',
    when: 'no leader; I run a primary on the cluster timeline',
    action: 'race',
    applies: pgPrimary,
    reason: () => 'no leader and I run a primary: racing for the key',
  },
  {
    id: 'leaderless.ineligible',
    when: 'no leader; I run a replica that may not be promoted',
    action: 'none',
    applies: (s) => pgReplica(s) && !selfEligibility(s).ok,
    reason: (s) => {
      const v = selfEligibility(s);
      return `no leader, but I am not eligible: ${v.ok ? '' : v.why}`;
    },
  },
  {
    // Anti-flap (issue 12, item 4): optional; an operator's failover is not held back by it.
    id: 'leaderless.anti-flap',
    when: 'no leader; I run an eligible replica, but the last promotion in `history` is more recent than min_failover_interval',
    action: 'none',
    applies: (s) => pgReplica(s) && sinceLastPromotion(s) !== null && sinceLastPromotion(s)! < (s.settings.minFailoverIntervalMs ?? 0),
    reason: (s) => `no leader, but the last promotion was ${seconds(sinceLastPromotion(s)!)} ago, less than min_failover_interval (${
      seconds(s.settings.minFailoverIntervalMs ?? 0)}): not racing for another ${seconds((s.settings.minFailoverIntervalMs ?? 0) - sinceLastPromotion(s)!)}`,
  },
  {
    id: 'leaderless.race',
    when: 'no leader; I run an eligible replica',
    action: 'race',
    applies: pgReplica,
    reason: (s) => {
      const v = selfEligibility(s);
      return `no leader; I am eligible (${v.ok ? v.detail : ''}); asking peers before racing`;
    },
  },
  {
    id: 'leaderless.start-standby',
    when: 'no leader; PostgreSQL is down',
    action: 'start_replica',
    applies: pgDown,
    reason: () => 'no leader; starting PostgreSQL as a standby so I can take part in the race',
    build: () => ({ kind: 'start_replica', leader: null }),
  },
  {
    id: 'fallthrough',
    when: 'anything else (e.g. PostgreSQL is starting)',
    action: 'wait',
    applies: () => true,
    reason: (s) => `waiting: PostgreSQL is ${s.local.pg.process}`,
  },
];

/** Wall-clock ms since the last promotion recorded in `history`, or null (none, or unreadable). */
function sinceLastPromotion(s: Situation): number | null {
  const rows = s.cluster?.history ?? [];
  const last = rows[rows.length - 1];
  const at = last ? Date.parse(last.timestamp) : Number.NaN;
  return Number.isFinite(at) ? Math.max(0, s.local.wallNow - at) : null;
}
