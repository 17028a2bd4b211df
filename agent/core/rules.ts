// The decision table: ordered rules, first match wins. Each row names the situation in words
// (rendered into docs/decision-table.md and kept as a snapshot so a rule change shows as a diff),
// the action it takes and the one-line reason it gives.
import type { Action, ActionKind } from './types.js';
import { eligibleReplicas, isEligible, neverPromote, selfAsCandidate } from './eligibility.js';
import { asksMeToHandOver, notYetDue, switchoverTarget } from './switchover.js';
import { syncBarsPromotion } from './sync.js';
import { invalidLeaderGraceMs, invalidLeaderKey } from './leader-key.js';
import { recoveryMinWaitMs, recoveryWaitMs, syncBarsRecovery } from './bootstrap.js';
import {
  type Situation, iLead, keyNamesMe, lastRanAsPrimary, leaderRunning, leaseValid, member, msLeft,
  otherLeader, pgDown, pgPrimary, pgReplica, rewindBackingOff, seconds, startBackingOff,
} from './situation.js';

export interface Rule {
  readonly id: string;
  /** The situation, in words, for the docs. */
  readonly when: string;
  readonly action: ActionKind;
  readonly applies: (s: Situation) => boolean;
  readonly reason: (s: Situation) => string;
  /** Builds the action when it carries data; defaults to `{ kind: action }`. */
  readonly build?: (s: Situation) => Action;
}

/** How long a replica may fail to stream from a running leader before we rewind or rebuild it. */
export function divergenceGraceMs(s: Situation): number {
  return Math.max(5000, 3 * s.settings.loopWaitMs);
}

/** I run a replica of the running leader and have not streamed from it for the grace period. */
function cutOffFromLeader(s: Situation): boolean {
  return otherLeader(s) !== null && pgReplica(s) && leaderRunning(s) && !s.local.pg.streaming
    && s.local.notStreamingSince !== null && s.local.now - s.local.notStreamingSince >= divergenceGraceMs(s);
}

/** Not streaming past the grace period, on another timeline than the leader's (either way). */
function offLeaderTimeline(s: Situation): boolean {
  const tl = leaderTimeline(s);
  return cutOffFromLeader(s) && tl !== null && (s.local.pg.timeline ?? 0) !== tl;
}

/**
 * Not streaming past the grace period because the leader refuses our WAL as diverged, on a
 * timeline with the same number as its own: two promotions from one timeline that did not see each
 * other both picked N+1. pg_rewind cannot help ("source and target cluster are on the same
 * timeline": no rewind required); only a fresh base backup can.
 */
function divergedOnSameTimeline(s: Situation): boolean {
  return cutOffFromLeader(s) && s.local.pg.walDiverged === true;
}

/** I hold the key and PostgreSQL has been down for primary_start_timeout or longer. */
function downPastStartTimeout(s: Situation): boolean {
  return s.local.pgDownSince !== null && s.local.now - s.local.pgDownSince >= s.settings.primaryStartTimeoutMs;
}

const notStreamingFor = (s: Situation): string => seconds(s.local.now - (s.local.notStreamingSince ?? s.local.now));

const leaderName = (s: Situation): string => otherLeader(s) ?? '?';
const dataEmpty = (s: Situation): boolean => s.local.pg.dataDir === 'empty';
const initialize = (s: Situation) => s.cluster?.initialize ?? { state: 'absent' as const };
const selfEligibility = (s: Situation) =>
  isEligible(selfAsCandidate(s.local.name, s.local.tags, s.local.pg), s.cluster!, s.settings);
const failover = (s: Situation) => s.cluster?.failover ?? null;
const target = (s: Situation) => switchoverTarget(s.cluster!, s.local.name, s.settings);
const paused = (s: Situation): boolean => s.cluster?.paused === true;
/** Other members whose key says their PostgreSQL holds a database. */
const othersWithData = (s: Situation): string[] =>
  (s.cluster?.members ?? []).filter((m) => m.name !== s.local.name && m.role !== 'uninitialized').map((m) => m.name);
/** An operator named me (manual failover): that decides a re-initialization too. */
const operatorChoseMe = (s: Situation): boolean => s.cluster?.failover?.candidate === s.local.name && s.cluster.failover.leader === undefined;
const absentFor = (s: Situation): number =>
  s.local.initializeAbsentSince == null ? 0 : s.local.now - s.local.initializeAbsentSince;
const invalidFor = (s: Situation): number =>
  s.local.invalidLeaderSince == null ? 0 : s.local.now - s.local.invalidLeaderSince;
const leaderTimeline = (s: Situation): number | null =>
  s.cluster?.status?.timeline ?? member(s, otherLeader(s))?.timeline ?? null;

export const RULES: readonly Rule[] = [
  // --- etcd unreachable: only the lease deadline matters ---------------------------------------
  {
    id: 'dcs-down.primary-within-lease',
    when: 'etcd unreachable; I run a primary and my lease deadline has not passed',
    action: 'none',
    applies: (s) => !s.local.dcsReachable && pgPrimary(s) && leaseValid(s),
    reason: (s) => `etcd unreachable; primary keeps serving until its lease deadline (${msLeft(s)} ms left)`,
  },
  {
    id: 'dcs-down.primary-lease-over',
    when: 'etcd unreachable; I run a primary and my lease deadline has passed (not paused)',
    action: 'fence',
    applies: (s) => !s.local.dcsReachable && pgPrimary(s) && !paused(s),
    reason: () => 'etcd unreachable and my lease deadline passed: stop accepting writes',
  },
  {
    id: 'dcs-down',
    when: 'etcd unreachable; I am not a primary',
    action: 'wait',
    applies: (s) => !s.local.dcsReachable || s.cluster === null,
    reason: () => 'etcd unreachable; changing nothing until it answers',
  },
  // --- a leader key no member can own (malformed, on no lease, naming no member) ---------------
  {
    id: 'leader.invalid-primary',
    when: 'the leader key holds a value no member can own and I run a primary',
    action: 'fence',
    applies: (s) => invalidLeaderKey(s.cluster) !== null && pgPrimary(s) && !paused(s),
    reason: (s) => `${invalidLeaderKey(s.cluster)}; it is not my key on my lease: stop accepting writes (rule 1)`,
  },
  {
    id: 'leader.invalid-delete',
    when: 'the leader key has held a value no member can own, unchanged, for ttl + loop_wait',
    action: 'delete_invalid_leader',
    applies: (s) => invalidLeaderKey(s.cluster) !== null && invalidFor(s) >= invalidLeaderGraceMs(s.settings),
    reason: (s) => `${invalidLeaderKey(s.cluster)}, unchanged for ${seconds(invalidFor(s))}: deleting it (compare on its revision) so the normal race can run`,
    build: (s) => ({ kind: 'delete_invalid_leader', revision: s.cluster!.leaderKey!.revision }),
  },
  {
    id: 'leader.invalid-wait',
    when: 'the leader key holds a value no member can own, for less than ttl + loop_wait',
    action: 'wait',
    applies: (s) => invalidLeaderKey(s.cluster) !== null,
    reason: (s) => `${invalidLeaderKey(s.cluster)}: not racing; deleting it if it stays so for ${seconds(invalidLeaderGraceMs(s.settings))}`,
  },
  // --- bootstrap ------------------------------------------------------------------------------
  {
    // A member that may never be promoted must not become the first primary either (Patroni's
    // bootstrap() skips nofailover nodes too): otherwise a cluster could start with its only
    // primary on the node the operator excluded from leadership.
    id: 'bootstrap.never-promote',
    when: 'no `initialize` key; I may never be promoted (tagged nofailover, or failover_priority ≤ 0)',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && neverPromote(s.local.tags) !== null,
    reason: (s) => `cluster is not initialized, but I may never be primary (${neverPromote(s.local.tags)}): waiting for another member to bootstrap it`,
  },
  {
    // After etcd lost its data, a member with an empty data directory (a replica being rebuilt, a
    // new node) must not initdb a second cluster beside the members that hold the real one.
    id: 'bootstrap.others-have-data',
    when: 'no `initialize` key; my data directory is empty, but other members hold data (or members I saw recently are silent)',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && dataEmpty(s)
      && (othersWithData(s).length > 0 || (s.local.silentMembers?.length ?? 0) > 0),
    reason: (s) => `no \`initialize\` key, but ${othersWithData(s).length > 0 ? `${othersWithData(s).join(', ')} hold data` : `members I saw recently (${(s.local.silentMembers ?? []).join(', ')}) are silent`}: not bootstrapping a new cluster; one of them re-initializes it and I clone from its leader`,
  },
  {
    id: 'bootstrap.race',
    when: 'no `initialize` key; my data directory is empty',
    action: 'initialize_cluster',
    applies: (s) => initialize(s).state === 'absent' && dataEmpty(s),
    reason: () => 'cluster is not initialized; racing to bootstrap it',
  },
  // --- no `initialize` key but data (etcd lost its data): re-initialize from the best data -------
  {
    id: 'recover.start-standby',
    when: 'no `initialize` key; my data directory holds a database and PostgreSQL is down',
    action: 'start_replica',
    applies: (s) => initialize(s).state === 'absent' && pgDown(s),
    reason: () => 'no `initialize` key (etcd lost its data?) but my data directory holds a database: starting it read-only as a standby so its position can be compared before anyone re-initializes the cluster',
    build: () => ({ kind: 'start_replica', leader: null }),
  },
  {
    id: 'recover.wait',
    when: 'no `initialize` key; I run PostgreSQL on existing data; for less than ttl + 2 × loop_wait, or members I saw recently are silent (at most the recovery wait)',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && !operatorChoseMe(s) && (absentFor(s) < recoveryMinWaitMs(s.settings)
      || ((s.local.silentMembers?.length ?? 0) > 0 && absentFor(s) < recoveryWaitMs(s.settings))),
    reason: (s) => (s.local.silentMembers?.length ?? 0) > 0
      ? `no \`initialize\` key; waiting up to ${seconds(recoveryWaitMs(s.settings))} for members I saw recently (${
        (s.local.silentMembers ?? []).join(', ')}) before re-initializing: the most advanced data may be theirs (${seconds(absentFor(s))} so far)`
      : `no \`initialize\` key; giving every member ${seconds(recoveryMinWaitMs(s.settings))} to publish its key before re-initializing (${seconds(absentFor(s))} so far)`,
  },
  {
    // Rule 5 across a lost etcd: only a member that can tell it holds every acknowledged commit
    // (the last `sync` it saw names it) may re-initialize a synchronous cluster on its own.
    id: 'recover.sync-unknown',
    when: 'no `initialize` key; synchronous mode, and the last `sync` I saw does not name me (or I never saw one); no operator named me',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && s.settings.synchronousMode && !operatorChoseMe(s) && syncBarsRecovery(s.local.name, s.local.lastKnownSync) !== null,
    reason: (s) => `no \`initialize\` key in synchronous mode and ${syncBarsRecovery(s.local.name, s.local.lastKnownSync)}: I cannot tell that I hold every acknowledged commit; waiting for a member that can, or for an operator (pgwarden ctl failover --candidate)`,
  },
  {
    // Like a failover: ask every reachable peer, stand down for any further ahead (or a live
    // primary); the winner claims `initialize` and takes the key. Never a node provably behind
    // another reachable one (issue 11, item 1).
    id: 'recover.race',
    when: 'no `initialize` key; I run PostgreSQL on existing data',
    action: 'initialize_cluster',
    applies: (s) => initialize(s).state === 'absent',
    reason: () => 'no `initialize` key but my data directory holds a database: racing to re-initialize the cluster from the most advanced data (asking peers first)',
  },
  {
    // The claim is bound to its maker's lease: it expires when its maker dies. But its maker must
    // recognise it too, or a claim whose answer was lost blocks bootstrap for as long as the
    // maker keeps its lease alive (the maker would wait for "another member" like everyone else).
    id: 'bootstrap.resume-own-claim',
    when: '`initialize` holds the bootstrap claim, bound to my lease: I made it',
    action: 'initialize_cluster',
    applies: (s) => initialize(s).state === 'bootstrapping' && s.local.holdsInitializeClaim,
    reason: (s) => `the bootstrap claim in \`initialize\` is mine (an earlier attempt did not finish): bootstrapping${
      dataEmpty(s) ? '' : ' from my existing data directory'}`,
  },
  {
    id: 'bootstrap.in-progress',
    when: '`initialize` holds the bootstrap claim of another member: it is bootstrapping',
    action: 'wait',
    applies: (s) => initialize(s).state === 'bootstrapping',
    reason: () => 'another member is bootstrapping the cluster',
  },
  {
    id: 'bootstrap.malformed',
    when: '`initialize` holds neither the claim nor a system identifier; my data directory is empty and nobody leads',
    action: 'wait',
    applies: (s) => initialize(s).state === 'malformed' && dataEmpty(s) && s.cluster!.leader === null,
    reason: () => '`initialize` holds a malformed value (see the log): not bootstrapping over it; waiting for a leader to clone from (fix or delete the key)',
  },
  {
    id: 'bootstrap.foreign-data',
    when: 'my data directory has a different system identifier than `initialize`',
    action: 'refuse_start',
    applies: (s) => {
      const init = initialize(s);
      return init.state === 'done' && s.local.pg.systemId !== null && s.local.pg.systemId !== init.systemId;
    },
    reason: (s) => {
      const init = initialize(s);
      const want = init.state === 'done' ? init.systemId : '?';
      return `data directory belongs to another cluster (system identifier ${s.local.pg.systemId}, cluster has ${want})`;
    },
  },
  // --- empty data directory in an initialized cluster ----------------------------------------
  {
    // E.g. a bootstrap that gave the race back after its late `acquire leader` landed: nobody
    // could ever clone from us, and the lease keeper would keep the key alive for good.
    id: 'clone.release-own-key',
    when: 'my data directory is empty but the leader key names me',
    action: 'release_leader',
    applies: (s) => dataEmpty(s) && keyNamesMe(s),
    reason: () => 'the leader key names me but my data directory is empty: releasing it so a member with data can lead',
  },
  {
    id: 'clone.no-leader',
    when: 'my data directory is empty and no member holds the leader key',
    action: 'wait',
    applies: (s) => dataEmpty(s) && otherLeader(s) === null,
    reason: () => 'data directory is empty and there is no leader to clone from',
  },
  {
    id: 'clone.leader-not-running',
    when: 'my data directory is empty and the leader is not running yet',
    action: 'wait',
    applies: (s) => dataEmpty(s) && !leaderRunning(s),
    reason: (s) => `data directory is empty; waiting for leader ${leaderName(s)} to run`,
  },
  {
    id: 'clone.from-leader',
    when: 'my data directory is empty and a leader runs',
    action: 'clone_from_leader',
    applies: dataEmpty,
    reason: (s) => `data directory is empty; creating a replica from leader ${leaderName(s)}`,
    build: (s) => ({ kind: 'clone_from_leader', leader: leaderName(s) }),
  },
  // --- the leader key names me but is not on my lease -----------------------------------------
  {
    // Only a primary's data may take back a key that names it: the key of our previous run (it
    // never lapsed) while PostgreSQL runs as primary or its data last ran as one. A replica never
    // promotes on a key it did not take on its own lease through the race (issue 11, item 4): such
    // a value (written by hand or by a bug, or ours from a run that died before promoting) is
    // foreign; it expires with its lease, or is deleted as invalid.
    id: 'leader.not-taken-by-me',
    when: 'the leader key names me but is not on my lease, and my data is a standby\'s (running as replica, or last ran as one)',
    action: 'wait',
    applies: (s) => keyNamesMe(s) && !s.local.holdsLeaderKey && (pgReplica(s) || (pgDown(s) && !lastRanAsPrimary(s))),
    reason: () => 'the leader key names me but I did not take it on my lease, and my data is a standby\'s: not promoting on it (it expires with its lease)',
  },
  {
    id: 'leader.reclaim-own-key',
    when: 'the leader key still names me but is bound to a lease of my previous run; I run or last ran a primary',
    action: 'acquire_leader',
    applies: (s) => keyNamesMe(s) && !s.local.holdsLeaderKey,
    reason: () => 'leader key still names me from a previous run (it never lapsed); binding it to my lease',
  },
  // --- planned switchover and manual failover (operator-driven: they work in pause too) -------
  {
    id: 'switchover.already-leader',
    when: 'the failover key names me as candidate and I already lead',
    action: 'clear_failover',
    applies: (s) => iLead(s) && pgPrimary(s) && failover(s)?.candidate === s.local.name,
    reason: () => 'the requested candidate (me) is already the leader; clearing the failover key',
  },
  {
    id: 'switchover.scheduled',
    when: 'I lead; a switchover is scheduled for later',
    action: 'renew_leader',
    applies: (s) => iLead(s) && pgPrimary(s) && asksMeToHandOver(failover(s), s.local.name) && notYetDue(failover(s)!, s.local.wallNow),
    reason: (s) => `I am the leader with the lock; switchover scheduled at ${failover(s)?.scheduledAt}`,
  },
  {
    id: 'switchover.no-candidate',
    when: 'I lead; a switchover is due but no candidate qualifies',
    action: 'clear_failover',
    applies: (s) => iLead(s) && pgPrimary(s) && asksMeToHandOver(failover(s), s.local.name) && !target(s).ok,
    reason: (s) => {
      const t = target(s);
      return `switchover refused: ${t.ok ? '' : t.why}; clearing the failover key`;
    },
  },
  {
    id: 'switchover.start',
    when: 'I lead; a switchover to an eligible candidate is due',
    action: 'switchover',
    applies: (s) => iLead(s) && pgPrimary(s) && asksMeToHandOver(failover(s), s.local.name),
    reason: (s) => {
      const t = target(s);
      return `switchover requested: handing over to ${t.ok ? t.name : '?'}`;
    },
    build: (s) => {
      const t = target(s);
      return { kind: 'switchover', candidate: t.ok ? t.name : '?' };
    },
  },
  {
    // A request naming no leader: a clean handover (the old leader named us as it released the
    // key, after we confirmed its shutdown checkpoint) or an operator's manual failover. A
    // switchover request addressed to a leader that is gone ({leader, candidate}) is obsolete:
    // it does not exempt anyone from the eligibility checks of the normal race.
    id: 'failover.candidate',
    when: 'no leader; the failover key names me as candidate, and no leader (a handover or a manual failover); I run a replica',
    action: 'race',
    applies: (s) => s.cluster!.leader === null && failover(s)?.candidate === s.local.name && failover(s)?.leader === undefined && pgReplica(s),
    reason: () => 'no leader and the failover key names me: taking over (only a live primary stops me)',
  },
  {
    id: 'failover.wait-for-candidate',
    when: 'no leader; the failover key names another candidate that runs, and no leader',
    action: 'wait',
    applies: (s) => {
      const c = failover(s)?.candidate;
      return s.cluster!.leader === null && c !== undefined && c !== s.local.name && failover(s)?.leader === undefined && member(s, c)?.state === 'running';
    },
    reason: (s) => `no leader; waiting for the requested candidate ${failover(s)?.candidate} to take over`,
  },
  // --- maintenance mode -------------------------------------------------------------------------
  {
    id: 'paused.reacquire',
    when: 'cluster paused; I run a primary and nobody holds the leader key',
    action: 'acquire_leader',
    applies: (s) => paused(s) && pgPrimary(s) && s.cluster!.leader === null,
    reason: () => 'paused: I run the primary and the leader key is free; taking it back',
  },
  {
    id: 'paused.leader',
    when: 'cluster paused; I hold the leader key and run a primary',
    action: 'renew_leader',
    applies: (s) => s.cluster!.paused && iLead(s) && pgPrimary(s),
    reason: () => 'paused: I am the leader with the lock',
  },
  {
    id: 'paused',
    when: 'cluster paused',
    action: 'none',
    applies: (s) => s.cluster!.paused,
    reason: () => 'paused: no automatic promotion or demotion',
  },
  // --- the leader key names me ----------------------------------------------------------------
  {
    id: 'leader.lease-over',
    when: 'the leader key names me but my lease deadline passed, and I run a primary',
    action: 'fence',
    applies: (s) => keyNamesMe(s) && !leaseValid(s) && pgPrimary(s),
    reason: () => 'my lease deadline passed without a successful renewal: stop accepting writes',
  },
  {
    id: 'leader.healthy',
    when: 'I hold the leader key and run a primary',
    action: 'renew_leader',
    applies: (s) => iLead(s) && pgPrimary(s),
    reason: () => 'I am the leader with the lock',
  },
  {
    id: 'leader.promote-not-in-sync',
    when: 'I hold the leader key and run a replica, but synchronous mode and `sync` does not name me',
    action: 'release_leader',
    applies: (s) => iLead(s) && pgReplica(s) && s.settings.synchronousMode && syncBarsPromotion(s.local.name, s.cluster) !== null,
    // A race decided on a stale view can leave us holding the key; promoting then could lose
    // commits only the listed standby confirmed (rule 5). Give the key back instead.
    reason: (s) => `I hold the leader key but ${syncBarsPromotion(s.local.name, s.cluster)}: releasing it`,
  },
  {
    id: 'leader.promote',
    when: 'I hold the leader key and run a replica',
    action: 'promote',
    applies: (s) => iLead(s) && pgReplica(s),
    reason: () => 'I hold the leader key and run as a replica: promoting',
  },
  {
    // Found by the simulator: the release at the end of a handover timed out but landed later,
    // while the old leader, seeing its key, restarted its primary: two primaries.
    id: 'leader.release-after-handover',
    when: 'I hold the leader key; PostgreSQL is down after I handed over cleanly',
    action: 'release_leader',
    applies: (s) => iLead(s) && pgDown(s) && s.local.cleanHandover,
    reason: () => 'I handed over cleanly but the leader key is still mine (the release was not confirmed): releasing it again, never restarting as primary',
  },
  {
    // A start that failed (port in use, bad parameter, no disk space…) is retried after a delay,
    // never answered with a rewind or rebuild. The leader still hands over after
    // primary_start_timeout when an eligible replica exists.
    id: 'start.backoff',
    when: 'PostgreSQL is down and its last start failed less than the retry delay ago',
    action: 'wait',
    applies: (s) => pgDown(s) && startBackingOff(s)
      && !(iLead(s) && downPastStartTimeout(s) && eligibleReplicas(s.local.name, s.cluster!, s.settings).length > 0),
    reason: (s) => {
      const r = s.local.startRetry!;
      return `PostgreSQL could not start (${r.attempts} failed attempt${r.attempts === 1 ? '' : 's'}): ${r.error}; retrying in ${seconds(r.retryAt - s.local.now)}`;
    },
  },
  {
    id: 'leader.start-standby-data',
    when: 'I hold the leader key; PostgreSQL is down and its data last ran as a standby',
    action: 'start_replica',
    applies: (s) => iLead(s) && pgDown(s) && !lastRanAsPrimary(s),
    reason: () => 'I hold the leader key and my data last ran as a standby: start it, then promote',
    build: () => ({ kind: 'start_replica', leader: null }),
  },
  {
    id: 'leader.restart-in-place',
    when: 'I hold the leader key; PostgreSQL is down for less than primary_start_timeout',
    action: 'start_primary',
    applies: (s) => iLead(s) && pgDown(s)
      && (s.local.pgDownSince === null || s.local.now - s.local.pgDownSince < s.settings.primaryStartTimeoutMs),
    reason: (s) => `PostgreSQL is not running; restarting it in place as primary (down ${
      seconds(s.local.pgDownSince === null ? 0 : s.local.now - s.local.pgDownSince)} of ${seconds(s.settings.primaryStartTimeoutMs)} allowed)`,
  },
  {
    id: 'leader.hand-over',
    when: 'I hold the leader key; PostgreSQL is down past primary_start_timeout and an eligible replica exists',
    action: 'release_leader',
    applies: (s) => iLead(s) && pgDown(s) && eligibleReplicas(s.local.name, s.cluster!, s.settings).length > 0,
    reason: (s) => `PostgreSQL down longer than primary_start_timeout; releasing the key to eligible replicas (${
      eligibleReplicas(s.local.name, s.cluster!, s.settings).join(', ')})`,
  },
  {
    id: 'leader.keep-restarting',
    when: 'I hold the leader key; PostgreSQL is down past primary_start_timeout and no replica is eligible',
    action: 'start_primary',
    applies: (s) => iLead(s) && pgDown(s),
    reason: () => 'PostgreSQL down longer than primary_start_timeout but no replica is eligible; still restarting it',
  },
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
