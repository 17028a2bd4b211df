// The decision core as a table: one row per situation, the expected action, rule and reason.
import { describe, expect, it } from 'vitest';
import { decide } from '../../../agent/core/decide.js';
import { RULES } from '../../../agent/core/rules.js';
import type { ClusterView, HaSettings, LocalView } from '../../../agent/core/types.js';
import {
  NOW, WALL_NOW, cluster, leaderLocal, local, member, pgPrimary, pgReplica, pgStopped, pgStoppedEmpty, settings, tags,
} from './builders.js';

interface Row {
  situation: string;
  cluster: ClusterView | null;
  local: LocalView;
  settings?: Partial<HaSettings>;
  action: string;
  rule: string;
  reason: RegExp;
  leader?: string | null;
}

const noLeader = (patch: Partial<ClusterView> = {}) =>
  cluster({ leader: null, members: [member('b'), member('c')], ...patch });

const rows: Row[] = [
  // etcd unreachable
  { situation: 'etcd down, primary within lease', cluster: cluster(), local: leaderLocal(pgPrimary(), { dcsReachable: false }),
    action: 'none', rule: 'dcs-down.primary-within-lease', reason: /until its lease deadline \(2000 ms left\)/ },
  { situation: 'etcd down, primary lease over', cluster: cluster(), local: leaderLocal(pgPrimary(), { dcsReachable: false, leaseDeadline: NOW - 1 }),
    action: 'fence', rule: 'dcs-down.primary-lease-over', reason: /lease deadline passed/ },
  { situation: 'etcd down, replica', cluster: cluster(), local: local(pgReplica(), { dcsReachable: false }),
    action: 'wait', rule: 'dcs-down', reason: /etcd unreachable/ },
  { situation: 'etcd never read', cluster: null, local: local(pgStoppedEmpty, { dcsReachable: false, leaseDeadline: null }),
    action: 'wait', rule: 'dcs-down', reason: /etcd unreachable/ },
  // bootstrap
  { situation: 'fresh cluster, empty data', cluster: cluster({ initialize: { state: 'absent' }, leader: null, members: [] }), local: local(pgStoppedEmpty),
    action: 'initialize_cluster', rule: 'bootstrap.race', reason: /racing to bootstrap it$/ },
  // etcd lost its data (issue 11, item 1): the first agent to read the empty etcd used to re-bootstrap
  // around its own data, a replica 10 s behind included. Now: start read-only, wait for silent
  // members (bounded), then race like a failover.
  // Anti-flap (issue 12, item 4): optional minimum interval between automatic failovers.
  { situation: 'no leader, the last promotion was 20 s ago and min_failover_interval is 60 s: hold off',
    cluster: noLeader({ history: [{ timeline: 1, lsn: 100, reason: 'x', timestamp: new Date(WALL_NOW - 20_000).toISOString(), newLeader: 'a' }] }),
    settings: { minFailoverIntervalMs: 60_000 }, local: local(pgReplica()),
    action: 'none', rule: 'leaderless.anti-flap', reason: /last promotion was 20.0s ago, less than min_failover_interval \(60.0s\): not racing for another 40.0s/ },
  { situation: 'no leader, the last promotion was 90 s ago and min_failover_interval is 60 s: race',
    cluster: noLeader({ history: [{ timeline: 1, lsn: 100, reason: 'x', timestamp: new Date(WALL_NOW - 90_000).toISOString(), newLeader: 'a' }] }),
    settings: { minFailoverIntervalMs: 60_000 }, local: local(pgReplica()),
    action: 'race', rule: 'leaderless.race', reason: /asking peers/ },
  { situation: 'no `initialize`, my data is empty but other members hold data: no second cluster (sim: a rebuilding replica ran initdb)',
    cluster: cluster({ initialize: { state: 'absent' }, leader: null }), local: local(pgStoppedEmpty),
    action: 'wait', rule: 'bootstrap.others-have-data', reason: /a, c hold data: not bootstrapping a new cluster/ },
  { situation: 'no `initialize`, my data is empty, members I saw are silent: no second cluster',
    cluster: cluster({ initialize: { state: 'absent' }, leader: null, members: [] }), local: local(pgStoppedEmpty, { silentMembers: ['a'] }),
    action: 'wait', rule: 'bootstrap.others-have-data', reason: /members I saw recently \(a\) are silent/ },
  { situation: 'no `initialize`, I run a primary without the leader key (chaos etcd-data-loss: it kept serving): fence',
    cluster: cluster({ initialize: { state: 'absent' }, leader: null }), local: local(pgPrimary(), { initializeAbsentSince: NOW }),
    action: 'fence', rule: 'recover.primary-without-key', reason: /leader key is not mine: stop accepting writes/ },
  { situation: 'no `initialize`, existing data, PostgreSQL down: start read-only first', cluster: cluster({ initialize: { state: 'absent' }, leader: null }), local: local(pgStopped('shut down')),
    action: 'start_replica', rule: 'recover.start-standby', reason: /starting it read-only as a standby so its position can be compared/, leader: null },
  { situation: 'no `initialize`, existing data, a member I saw is silent: wait (bounded)', cluster: cluster({ initialize: { state: 'absent' }, leader: null }),
    local: local(pgReplica({ upstream: null, streaming: false }), { silentMembers: ['a'], initializeAbsentSince: NOW - 5000 }),
    action: 'wait', rule: 'recover.wait', reason: /waiting up to 30.0s for members I saw recently \(a\).*5.0s so far/ },
  { situation: 'no `initialize`, existing data, nobody known to be silent: still give every member time to publish its key (sim seed 774: a restarted agent remembers nobody)',
    cluster: cluster({ initialize: { state: 'absent' }, leader: null }), local: local(pgReplica({ upstream: null, streaming: false }), { initializeAbsentSince: NOW - 1000 }),
    action: 'wait', rule: 'recover.wait', reason: /giving every member 5.0s to publish its key/ },
  { situation: 'no `initialize` in synchronous mode, the last `sync` I saw names others: cannot tell I hold every acknowledged commit',
    cluster: cluster({ initialize: { state: 'absent' }, leader: null }), settings: { synchronousMode: true },
    local: local(pgReplica({ upstream: null, streaming: false }), { initializeAbsentSince: NOW - 60_000, lastKnownSync: { leader: 'a', syncStandbys: ['c'] } }),
    action: 'wait', rule: 'recover.sync-unknown', reason: /names a, c, not me: I cannot tell that I hold every acknowledged commit/ },
  { situation: 'no `initialize` in synchronous mode, the last `sync` named me: race', cluster: cluster({ initialize: { state: 'absent' }, leader: null }), settings: { synchronousMode: true },
    local: local(pgReplica({ upstream: null, streaming: false }), { initializeAbsentSince: NOW - 60_000, lastKnownSync: { leader: 'a', syncStandbys: ['b'] } }),
    action: 'initialize_cluster', rule: 'recover.race', reason: /racing to re-initialize/ },
  { situation: 'no `initialize`, existing data, silent member past the wait: race', cluster: cluster({ initialize: { state: 'absent' }, leader: null }),
    local: local(pgReplica({ upstream: null, streaming: false }), { silentMembers: ['a'], initializeAbsentSince: NOW - 30_000 }),
    action: 'initialize_cluster', rule: 'recover.race', reason: /from the most advanced data \(asking peers first\)/ },
  { situation: 'no `initialize`, existing data running, nobody silent: race', cluster: cluster({ initialize: { state: 'absent' }, leader: null }), local: local(pgReplica({ upstream: null, streaming: false }), { initializeAbsentSince: NOW - 10_000 }),
    action: 'initialize_cluster', rule: 'recover.race', reason: /racing to re-initialize/ },
  { situation: 'fresh cluster, I am tagged nofailover: never the first primary either', cluster: cluster({ initialize: { state: 'absent' }, leader: null, members: [] }),
    local: local(pgStoppedEmpty, { tags: tags({ nofailover: true }) }),
    action: 'wait', rule: 'bootstrap.never-promote', reason: /may never be primary \(tagged nofailover\): waiting for another member to bootstrap it/ },
  { situation: 'fresh cluster, failover_priority 0, existing data', cluster: cluster({ initialize: { state: 'absent' }, leader: null }),
    local: local(pgStopped('shut down'), { tags: tags({ failoverPriority: 0 }) }),
    action: 'wait', rule: 'bootstrap.never-promote', reason: /failover_priority is 0/ },
  { situation: 'someone else bootstrapping', cluster: cluster({ initialize: { state: 'bootstrapping' }, leader: null }), local: local(pgStoppedEmpty),
    action: 'wait', rule: 'bootstrap.in-progress', reason: /another member is bootstrapping/ },
  { situation: 'the bootstrap claim is mine (its answer was lost): regression, sim bootstrap-claim-lost',
    cluster: cluster({ initialize: { state: 'bootstrapping' }, leader: null, members: [] }), local: local(pgStoppedEmpty, { holdsInitializeClaim: true }),
    action: 'initialize_cluster', rule: 'bootstrap.resume-own-claim', reason: /claim in `initialize` is mine .*: bootstrapping$/ },
  { situation: 'the bootstrap claim is mine and my bootstrap left data (kept: etcd could not be read)',
    cluster: cluster({ initialize: { state: 'bootstrapping' }, leader: null, members: [] }), local: local(pgPrimary(), { holdsInitializeClaim: true }),
    action: 'initialize_cluster', rule: 'bootstrap.resume-own-claim', reason: /from my existing data directory/ },
  { situation: 'a nofailover member never holds a claim: it waits like everyone else',
    cluster: cluster({ initialize: { state: 'bootstrapping' }, leader: null, members: [] }), local: local(pgStoppedEmpty, { tags: tags({ nofailover: true }) }),
    action: 'wait', rule: 'bootstrap.in-progress', reason: /another member is bootstrapping/ },
  { situation: 'malformed `initialize`, empty data, nobody leads: no bootstrap over it',
    cluster: cluster({ initialize: { state: 'malformed' }, leader: null, members: [] }), local: local(pgStoppedEmpty),
    action: 'wait', rule: 'bootstrap.malformed', reason: /malformed value .*fix or delete the key/ },
  { situation: 'malformed `initialize`, empty data, a leader runs: clone from it',
    cluster: cluster({ initialize: { state: 'malformed' } }), local: local(pgStoppedEmpty),
    action: 'clone_from_leader', rule: 'clone.from-leader', reason: /replica from leader a/, leader: 'a' },
  { situation: 'malformed `initialize`: an initialized cluster goes on (no identifier to compare)',
    cluster: cluster({ initialize: { state: 'malformed' } }), local: local(pgReplica({ systemId: '999' })),
    action: 'none', rule: 'follower.healthy', reason: /streaming/ },
  { situation: 'data from another cluster, PostgreSQL not running: refuse to start', cluster: cluster(), local: local(pgStopped('shut down', { systemId: '999' })),
    action: 'refuse_start', rule: 'bootstrap.foreign-data', reason: /`initialize` holds system identifier 7300000000000000001, my data has 999/ },
  // Regression (issue 11, item 7): a foreign `initialize` stopped PostgreSQL on every node, the serving primary's too.
  { situation: '`initialize` holds another system identifier while I lead and serve: keep serving, act on nothing',
    cluster: cluster({ initialize: { state: 'done', systemId: '42' } }), local: leaderLocal(pgPrimary()),
    action: 'renew_leader', rule: 'foreign-initialize.leader', reason: /refusing to act on it; I keep serving as the leader/ },
  { situation: '`initialize` holds another system identifier while my replica runs: keep running, act on nothing',
    cluster: cluster({ initialize: { state: 'done', systemId: '42' } }), local: local(pgReplica()),
    action: 'wait', rule: 'foreign-initialize.running', reason: /PostgreSQL keeps running as it is/ },
  // clone
  { situation: 'empty data, but the leader key names me (a bootstrap given back after its key landed)',
    cluster: cluster({ leader: 'b', members: [] }), local: local(pgStoppedEmpty, { holdsLeaderKey: true }),
    action: 'release_leader', rule: 'clone.release-own-key', reason: /data directory is empty: releasing it/ },
  { situation: 'empty data, no leader', cluster: noLeader(), local: local(pgStoppedEmpty),
    action: 'wait', rule: 'clone.no-leader', reason: /no leader to clone from/ },
  { situation: 'empty data, leader not running', cluster: cluster({ members: [member('a', { role: 'primary', state: 'starting' })] }), local: local(pgStoppedEmpty),
    action: 'wait', rule: 'clone.leader-not-running', reason: /waiting for leader a/ },
  { situation: 'empty data, leader runs', cluster: cluster(), local: local(pgStoppedEmpty),
    action: 'clone_from_leader', rule: 'clone.from-leader', reason: /replica from leader a/, leader: 'a' },
  // planned switchover and manual failover
  { situation: 'switchover request, named candidate qualifies', cluster: cluster({ failover: { leader: 'a', candidate: 'c' } }), local: leaderLocal(pgPrimary()),
    action: 'switchover', rule: 'switchover.start', reason: /handing over to c/ },
  { situation: 'switchover request, no candidate named: most caught-up replica', cluster: cluster({ failover: { leader: 'a' }, members: [member('a', { role: 'primary' }), member('b', { receivedLsn: 4000, replayedLsn: 4000 }), member('c')] }), local: leaderLocal(pgPrimary()),
    action: 'switchover', rule: 'switchover.start', reason: /handing over to c$/ },
  { situation: 'switchover to a nofailover candidate', cluster: cluster({ failover: { leader: 'a', candidate: 'c' }, members: [member('a', { role: 'primary' }), member('b'), member('c', { tags: tags({ nofailover: true }) })] }), local: leaderLocal(pgPrimary()),
    action: 'clear_failover', rule: 'switchover.no-candidate', reason: /candidate c does not qualify: tagged nofailover/ },
  { situation: 'switchover to an unknown member', cluster: cluster({ failover: { leader: 'a', candidate: 'zz' } }), local: leaderLocal(pgPrimary()),
    action: 'clear_failover', rule: 'switchover.no-candidate', reason: /candidate zz is not a member/ },
  { situation: 'switchover scheduled in the future', cluster: cluster({ failover: { leader: 'a', scheduledAt: '2026-01-01T01:00:00Z' } }), local: leaderLocal(pgPrimary()),
    action: 'renew_leader', rule: 'switchover.scheduled', reason: /scheduled at 2026-01-01T01:00:00Z/ },
  { situation: 'scheduled switchover now due', cluster: cluster({ failover: { leader: 'a', scheduledAt: '2025-12-31T23:59:00Z' } }), local: leaderLocal(pgPrimary()),
    action: 'switchover', rule: 'switchover.start', reason: /handing over/ },
  { situation: 'failover key names the leader itself', cluster: cluster({ failover: { candidate: 'a' } }), local: leaderLocal(pgPrimary()),
    action: 'clear_failover', rule: 'switchover.already-leader', reason: /already the leader/ },
  { situation: 'no leader, I am the requested candidate (even if lagging)', cluster: noLeader({ failover: { candidate: 'b' }, status: { optime: 90_000_000, timeline: 1 } }), local: local(pgReplica({ replayedLsn: 5 })),
    action: 'race', rule: 'failover.candidate', reason: /failover key names me/ },
  // Regression (sim seed 106): a switchover request to a leader that is gone exempted its candidate
  // from the lag check; it is obsolete, and the candidate races like anyone (eligibility first).
  { situation: 'no leader, an obsolete switchover request names me (leader gone): lagging, not eligible', cluster: noLeader({ failover: { leader: 'a', candidate: 'b' }, status: { optime: 90_000_000, timeline: 1 } }),
    local: local(pgReplica({ replayedLsn: 5 })),
    action: 'none', rule: 'leaderless.ineligible', reason: /not eligible/ },
  { situation: 'no leader, an obsolete switchover request names another: no waiting for it', cluster: noLeader({ failover: { leader: 'a', candidate: 'c' } }), local: local(pgReplica()),
    action: 'race', rule: 'leaderless.race', reason: /asking peers/ },
  { situation: 'no leader, another requested candidate runs', cluster: noLeader({ failover: { candidate: 'c' } }), local: local(pgReplica()),
    action: 'wait', rule: 'failover.wait-for-candidate', reason: /waiting for the requested candidate c/ },
  { situation: 'no leader, requested candidate is down: normal race', cluster: noLeader({ failover: { candidate: 'c' }, members: [member('b'), member('c', { state: 'stopped' })] }), local: local(pgReplica()),
    action: 'race', rule: 'leaderless.race', reason: /asking peers/ },
  { situation: 'old primary after a clean handover', cluster: cluster({ leader: 'c', members: [member('c', { role: 'primary' })] }), local: local(pgStopped('shut down'), { cleanHandover: true }),
    action: 'start_replica', rule: 'follower.after-handover', reason: /without a rewind/, leader: 'c' },
  // pause
  { situation: 'paused, primary lost its key', cluster: noLeader({ paused: true }), local: local(pgPrimary()),
    action: 'acquire_leader', rule: 'paused.reacquire', reason: /taking it back/ },
  { situation: 'paused, etcd down, primary lease over: keeps running', cluster: cluster({ paused: true }), local: leaderLocal(pgPrimary(), { dcsReachable: false, leaseDeadline: NOW - 1 }),
    action: 'wait', rule: 'dcs-down', reason: /etcd unreachable/ },
  { situation: 'paused, manual failover still works', cluster: noLeader({ paused: true, failover: { candidate: 'b' } }), local: local(pgReplica()),
    action: 'race', rule: 'failover.candidate', reason: /names me/ },
  { situation: 'paused leader', cluster: cluster({ paused: true }), local: leaderLocal(pgPrimary()),
    action: 'renew_leader', rule: 'paused.leader', reason: /paused: I am the leader/ },
  { situation: 'paused, no leader, replica', cluster: noLeader({ paused: true }), local: local(pgReplica()),
    action: 'none', rule: 'paused', reason: /no automatic promotion/ },
  // a leader key no member can own (issue 11, item 6): it used to stop writes until a human deleted it
  { situation: 'malformed leader value, replica: wait out the grace', cluster: cluster({ leader: null, leaderKey: { revision: 42, onLease: true } }),
    local: local(pgReplica(), { invalidLeaderSince: NOW - 1000 }),
    action: 'wait', rule: 'leader.invalid-wait', reason: /malformed value: not racing; deleting it if it stays so for 4.0s/ },
  { situation: 'malformed leader value for ttl + loop_wait: delete it at its revision', cluster: cluster({ leader: null, leaderKey: { revision: 42, onLease: true } }),
    local: local(pgReplica(), { invalidLeaderSince: NOW - 4000 }),
    action: 'delete_invalid_leader', rule: 'leader.invalid-delete', reason: /unchanged for 4.0s: deleting it \(compare on its revision\)/ },
  { situation: 'leader value on no lease (never expires)', cluster: cluster({ leaderKey: { revision: 7, onLease: false } }),
    local: local(pgReplica(), { invalidLeaderSince: NOW - 10_000 }),
    action: 'delete_invalid_leader', rule: 'leader.invalid-delete', reason: /names a but is bound to no lease/ },
  { situation: 'leader value naming no member', cluster: cluster({ leader: 'ghost', leaderKey: { revision: 9, onLease: true } }),
    local: local(pgReplica({ upstream: 'ghost' }), { invalidLeaderSince: NOW }),
    action: 'wait', rule: 'leader.invalid-wait', reason: /names ghost, which is not a member/ },
  { situation: 'malformed leader value while I run a primary: fence (not my key)', cluster: cluster({ leader: null, leaderKey: { revision: 42, onLease: true } }),
    local: local(pgPrimary(), { invalidLeaderSince: NOW }),
    action: 'fence', rule: 'leader.invalid-primary', reason: /malformed value; it is not my key on my lease: stop accepting writes/ },
  { situation: 'a valid leader key on a lease naming a member is not judged', cluster: cluster({ leaderKey: { revision: 9, onLease: true } }), local: local(pgReplica()),
    action: 'none', rule: 'follower.healthy', reason: /replica of leader a/ },
  // the key names me
  { situation: 'leader lease deadline passed', cluster: cluster(), local: leaderLocal(pgPrimary(), { leaseDeadline: NOW }),
    action: 'fence', rule: 'leader.lease-over', reason: /without a successful renewal/ },
  { situation: 'key names me from previous run', cluster: cluster(), local: leaderLocal(pgStopped('in production'), { holdsLeaderKey: false }),
    action: 'acquire_leader', rule: 'leader.reclaim-own-key', reason: /never lapsed/ },
  // Regression (issue 11, item 4): a key naming a replica that it never took on its own lease (written
  // by hand, or by a bug) made it promote with no lag or timeline check.
  { situation: 'key names me but not on my lease, I run a replica: never promote on it', cluster: cluster(), local: leaderLocal(pgReplica({ upstream: null }), { holdsLeaderKey: false }),
    action: 'wait', rule: 'leader.not-taken-by-me', reason: /did not take it on my lease.*not promoting/ },
  { situation: 'key names me but not on my lease, my data last ran as a standby', cluster: cluster(), local: leaderLocal(pgStopped('shut down in recovery'), { holdsLeaderKey: false }),
    action: 'wait', rule: 'leader.not-taken-by-me', reason: /not promoting/ },
  { situation: 'healthy leader', cluster: cluster(), local: leaderLocal(pgPrimary()),
    action: 'renew_leader', rule: 'leader.healthy', reason: /^I am the leader with the lock$/ },
  { situation: 'holding the key on a stale race, sync names someone else (regression: sim seed 1459)',
    cluster: cluster({ sync: { leader: 'x', syncStandbys: ['c'] } }), settings: { synchronousMode: true }, local: leaderLocal(pgReplica({ upstream: null })),
    action: 'release_leader', rule: 'leader.promote-not-in-sync', reason: /sync names x, c, not me.*releasing it/ },
  { situation: 'won race in sync mode after claiming sync', cluster: cluster({ sync: { leader: 'a', syncStandbys: [] } }), settings: { synchronousMode: true }, local: leaderLocal(pgReplica({ upstream: null })),
    action: 'promote', rule: 'leader.promote', reason: /promoting/ },
  { situation: 'won race, still replica', cluster: cluster(), local: leaderLocal(pgReplica({ upstream: null })),
    action: 'promote', rule: 'leader.promote', reason: /promoting/ },
  { situation: 'key still mine after a clean handover whose release was not confirmed (sim seed 296): release again, never restart',
    cluster: cluster(), local: leaderLocal(pgStopped('shut down'), { cleanHandover: true }),
    action: 'release_leader', rule: 'leader.release-after-handover', reason: /never restarting as primary/ },
  { situation: 'leader key, data was standby', cluster: cluster(), local: leaderLocal(pgStopped('shut down in recovery')),
    action: 'start_replica', rule: 'leader.start-standby-data', reason: /then promote/, leader: null },
  { situation: 'primary crashed just now', cluster: cluster(), local: leaderLocal(pgStopped('in production', { }), { pgDownSince: NOW - 500 }),
    action: 'start_primary', rule: 'leader.restart-in-place', reason: /down 0.5s of 10.0s allowed/ },
  { situation: 'primary down too long, replica eligible', cluster: cluster(), local: leaderLocal(pgStopped('in production'), { pgDownSince: NOW - 11_000 }),
    action: 'release_leader', rule: 'leader.hand-over', reason: /eligible replicas \(b, c\)/ },
  { situation: 'primary down too long, replicas lag', cluster: cluster({ members: [member('a', { role: 'primary' }), member('b', { replayedLsn: 1 }), member('c', { tags: tags({ nofailover: true }) })], status: { optime: 5_000_000, timeline: 1 } }),
    local: leaderLocal(pgStopped('in production'), { pgDownSince: NOW - 11_000 }),
    action: 'start_primary', rule: 'leader.keep-restarting', reason: /no replica is eligible/ },
  // another member leads
  { situation: 'old primary sees new leader', cluster: cluster({ leader: 'c' }), local: local(pgPrimary()),
    action: 'fence', rule: 'follower.demote', reason: /c holds the leader key/ },
  { situation: 'replica of old leader', cluster: cluster({ leader: 'c', members: [member('c', { role: 'primary' })] }), local: local(pgReplica({ upstream: 'a' })),
    action: 'follow', rule: 'follower.switch-upstream', reason: /following new leader c \(was a\)/, leader: 'c' },
  { situation: 'replica diverged from new timeline', cluster: cluster({ status: { optime: 9000, timeline: 2 } }), local: local(pgReplica({ streaming: false, timeline: 1 }), { notStreamingSince: NOW - 6000 }),
    action: 'rewind', rule: 'follower.diverged', reason: /may have diverged/, leader: 'a' },
  { situation: 'replica briefly not streaming', cluster: cluster({ status: { optime: 9000, timeline: 2 } }), local: local(pgReplica({ streaming: false, timeline: 1 }), { notStreamingSince: NOW - 1000 }),
    action: 'none', rule: 'follower.healthy', reason: /not streaming yet/ },
  { situation: 'replica on a NEWER timeline than the leader (it followed a primary that is gone)',
    cluster: cluster({ status: { optime: 9000, timeline: 2 } }), local: local(pgReplica({ streaming: false, timeline: 3 }), { notStreamingSince: NOW - 6000 }),
    action: 'rewind', rule: 'follower.diverged', reason: /on timeline 3, ahead of its timeline 2: .*rewinding/, leader: 'a' },
  { situation: 'replica on the leader\'s timeline number, refused as diverged (two promotions picked it): regression, sim diverged-timeline-not-behind',
    cluster: cluster({ status: { optime: 9000, timeline: 2 } }), local: local(pgReplica({ streaming: false, timeline: 2, walDiverged: true }), { notStreamingSince: NOW - 6000 }),
    action: 'rebuild', rule: 'follower.diverged-same-timeline', reason: /refuses my WAL as diverged on timeline 2.*pg_rewind cannot.*rebuilding/, leader: 'a' },
  { situation: 'same, rebuilds not allowed: manual action',
    cluster: cluster({ status: { optime: 9000, timeline: 2 } }), settings: { rebuildOnRewindFailure: false },
    local: local(pgReplica({ streaming: false, timeline: 2, walDiverged: true }), { notStreamingSince: NOW - 6000 }),
    action: 'wait', rule: 'follower.diverged-same-timeline-manual', reason: /manual action needed/ },
  { situation: 'same, but within the grace period',
    cluster: cluster({ status: { optime: 9000, timeline: 2 } }), local: local(pgReplica({ streaming: false, timeline: 2, walDiverged: true }), { notStreamingSince: NOW - 1000 }),
    action: 'none', rule: 'follower.healthy', reason: /not streaming yet/ },
  { situation: 'replica on the leader\'s timeline, not streaming for long, no divergence reported (e.g. cut off from it): nothing destructive',
    cluster: cluster({ status: { optime: 9000, timeline: 2 } }), local: local(pgReplica({ streaming: false, timeline: 2, walDiverged: false }), { notStreamingSince: NOW - 60_000 }),
    action: 'none', rule: 'follower.healthy', reason: /not streaming yet/ },
  { situation: 'healthy replica', cluster: cluster(), local: local(pgReplica()),
    action: 'none', rule: 'follower.healthy', reason: /^replica of leader a, streaming$/ },
  { situation: 'rewind failed, rebuild allowed', cluster: cluster(), local: local(pgStopped('in production'), { rewindFailed: true }),
    action: 'rebuild', rule: 'follower.rebuild-after-rewind-failed', reason: /fresh base backup of a/, leader: 'a' },
  { situation: 'rewind failed, rebuild off', cluster: cluster(), settings: { rebuildOnRewindFailure: false }, local: local(pgStopped('in production'), { rewindFailed: true }),
    action: 'wait', rule: 'follower.rewind-failed', reason: /manual action needed/ },
  // issue 11 item 2: only an impossible rewind leads to a rebuild; a transient failure waits and retries
  { situation: 'former primary, pg_rewind failed transiently against this leader, retry not due: keep the data and wait',
    cluster: cluster(), local: local(pgStopped('in production'), { rewindRetry: { attempts: 2, retryAt: NOW + 3000, error: 'could not connect to server: Connection refused', leader: 'a' } }),
    action: 'wait', rule: 'follower.rewind-retry', reason: /failed transiently \(2 attempts\): could not connect.*keeping my data and retrying in 3\.0s/ },
  { situation: 'former primary, transient pg_rewind failure, retry due: rewind again (never a rebuild)',
    cluster: cluster(), local: local(pgStopped('in production'), { rewindRetry: { attempts: 2, retryAt: NOW - 1, error: 'timeout', leader: 'a' } }),
    action: 'rewind', rule: 'follower.rewind', reason: /rewinding it against a/, leader: 'a' },
  { situation: 'former primary, transient pg_rewind failure against an older leader: rewind against the new one at once',
    cluster: cluster(), local: local(pgStopped('in production'), { rewindRetry: { attempts: 5, retryAt: NOW + 30_000, error: 'timeout', leader: 'c' } }),
    action: 'rewind', rule: 'follower.rewind', reason: /rewinding it against a/, leader: 'a' },
  // issue 11 item 10: a clone that never started is not a former primary; a failed start is retried, not rebuilt
  { situation: 'fresh base backup that never started (control file copied "in production", backup_label present): start it, no rewind',
    cluster: cluster(), local: local(pgStopped('in production', { backupLabel: true })),
    action: 'start_replica', rule: 'follower.start', reason: /replica of a/, leader: 'a' },
  { situation: 'replica data whose start failed (port in use), retry not due: wait, no rewind or rebuild',
    cluster: cluster(), local: local(pgStopped('in production', { backupLabel: true }), { startRetry: { attempts: 3, retryAt: NOW + 4000, error: 'could not bind IPv4 address "127.0.0.1": Address already in use' } }),
    action: 'wait', rule: 'start.backoff', reason: /could not start \(3 failed attempts\): could not bind.*Address already in use; retrying in 4\.0s/ },
  { situation: 'former primary whose start failed, retry not due: wait (no rewind yet)',
    cluster: cluster(), local: local(pgStopped('in production'), { startRetry: { attempts: 1, retryAt: NOW + 1000, error: 'x' } }),
    action: 'wait', rule: 'start.backoff', reason: /could not start \(1 failed attempt\)/ },
  { situation: 'leader whose restart failed (port in use), retry not due, still within primary_start_timeout: wait',
    cluster: cluster(), local: leaderLocal(pgStopped('in production'), { pgDownSince: NOW - 2000, startRetry: { attempts: 1, retryAt: NOW + 1000, error: 'x' } }),
    action: 'wait', rule: 'start.backoff', reason: /could not start/ },
  { situation: 'leader whose restarts keep failing past primary_start_timeout, replica eligible: hand over despite the backoff',
    cluster: cluster(), local: leaderLocal(pgStopped('in production'), { pgDownSince: NOW - 11_000, startRetry: { attempts: 4, retryAt: NOW + 8000, error: 'x' } }),
    action: 'release_leader', rule: 'leader.hand-over', reason: /eligible replicas/ },
  { situation: 'standby whose start failed, retry due: start again',
    cluster: cluster(), local: local(pgStopped('shut down in recovery'), { startRetry: { attempts: 1, retryAt: NOW - 1, error: 'x' } }),
    action: 'start_replica', rule: 'follower.start', reason: /replica of a/, leader: 'a' },
  { situation: 'former primary, leader not yet running', cluster: cluster({ members: [member('a', { state: 'starting' })] }), local: local(pgStopped('in production')),
    action: 'wait', rule: 'follower.leader-not-running', reason: /before rewinding/ },
  { situation: 'former primary crashed, new leader runs', cluster: cluster(), local: local(pgStopped('in production')),
    action: 'rewind', rule: 'follower.rewind', reason: /rewinding it against a/, leader: 'a' },
  { situation: 'former primary shut down cleanly', cluster: cluster(), local: local(pgStopped('shut down')),
    action: 'rewind', rule: 'follower.rewind', reason: /last ran as a primary/, leader: 'a' },
  { situation: 'former primary, rewind disabled', cluster: cluster(), settings: { usePgRewind: false }, local: local(pgStopped('in production')),
    action: 'rebuild', rule: 'follower.rebuild-no-rewind', reason: /use_pg_rewind is off/, leader: 'a' },
  { situation: 'stopped standby', cluster: cluster(), local: local(pgStopped('shut down in recovery')),
    action: 'start_replica', rule: 'follower.start', reason: /replica of a/, leader: 'a' },
  { situation: 'crashed standby', cluster: cluster(), local: local(pgStopped('in archive recovery', { }), { pgDownSince: NOW - 100 }),
    action: 'start_replica', rule: 'follower.start', reason: /replica of a/, leader: 'a' },
  // nobody leads
  { situation: 'no leader, primary on old timeline', cluster: noLeader({ status: { optime: 1, timeline: 3 } }), local: local(pgPrimary({ timeline: 2 })),
    action: 'fence', rule: 'leaderless.stale-primary', reason: /timeline 2, older than the cluster's 3/ },
  { situation: 'no leader, primary lease over', cluster: noLeader(), local: local(pgPrimary(), { leaseDeadline: NOW - 5 }),
    action: 'fence', rule: 'leaderless.primary-lease-over', reason: /lease deadline passed/ },
  { situation: 'no leader, running primary', cluster: noLeader(), local: local(pgPrimary()),
    action: 'race', rule: 'leaderless.primary-race', reason: /racing for the key/ },
  { situation: 'no leader, nofailover', cluster: noLeader(), local: local(pgReplica(), { tags: tags({ nofailover: true }) }),
    action: 'none', rule: 'leaderless.ineligible', reason: /tagged nofailover/ },
  { situation: 'no leader, priority 0', cluster: noLeader(), local: local(pgReplica(), { tags: tags({ failoverPriority: 0 }) }),
    action: 'none', rule: 'leaderless.ineligible', reason: /failover_priority is 0/ },
  { situation: 'no leader, replay lag too big', cluster: noLeader({ status: { optime: 50_000_000, timeline: 1 } }), local: local(pgReplica({ receivedLsn: 50_000_000, replayedLsn: 1000 })),
    action: 'none', rule: 'leaderless.ineligible', reason: /replay lag 49999000 bytes > maximum_lag_on_failover 1048576/ },
  { situation: 'no leader, older timeline', cluster: noLeader({ status: { optime: 5000, timeline: 2 } }), local: local(pgReplica({ timeline: 1 })),
    action: 'none', rule: 'leaderless.ineligible', reason: /on timeline 1, cluster is on 2/ },
  { situation: 'no leader, older timeline but check_timeline off', cluster: noLeader({ status: { optime: 5000, timeline: 2 } }), settings: { checkTimeline: false }, local: local(pgReplica({ timeline: 1 })),
    action: 'race', rule: 'leaderless.race', reason: /eligible \(lag 0 bytes\)/ },
  { situation: 'no leader, sync mode, not in sync', cluster: noLeader({ sync: { leader: 'a', syncStandbys: ['c'] } }), settings: { synchronousMode: true }, local: local(pgReplica()),
    action: 'none', rule: 'leaderless.ineligible', reason: /not listed in sync/ },
  { situation: 'no leader, sync mode, sync names me as its leader with no standby (restarted former primary): I may lead again',
    cluster: noLeader({ sync: { leader: 'b', syncStandbys: [] } }), settings: { synchronousMode: true }, local: local(pgReplica({ upstream: null, streaming: false })),
    action: 'race', rule: 'leaderless.race', reason: /asking peers/ },
  { situation: 'no leader, sync mode, sync names another leader and no standby: nobody else may take over',
    cluster: noLeader({ sync: { leader: 'a', syncStandbys: [] } }), settings: { synchronousMode: true }, local: local(pgReplica()),
    action: 'none', rule: 'leaderless.ineligible', reason: /not listed in sync/ },
  { situation: 'no leader, sync mode, in sync', cluster: noLeader({ sync: { leader: 'a', syncStandbys: ['b'] } }), settings: { synchronousMode: true }, local: local(pgReplica()),
    action: 'race', rule: 'leaderless.race', reason: /asking peers/ },
  { situation: 'no leader, eligible replica', cluster: noLeader(), local: local(pgReplica({ replayedLsn: 4000 })),
    action: 'race', rule: 'leaderless.race', reason: /lag 1000 bytes/ },
  { situation: 'no leader, nothing published yet', cluster: noLeader({ status: null }), local: local(pgReplica()),
    action: 'race', rule: 'leaderless.race', reason: /lag unknown/ },
  { situation: 'no leader, stopped', cluster: noLeader(), local: local(pgStopped('shut down in recovery')),
    action: 'start_replica', rule: 'leaderless.start-standby', reason: /take part in the race/, leader: null },
  { situation: 'postgres starting', cluster: cluster(), local: local(pgReplica({ process: 'starting', role: null })),
    action: 'wait', rule: 'fallthrough', reason: /PostgreSQL is starting/ },
];

describe('decide: the decision table', () => {
  it('has at least 30 situations', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
  });

  it.each(rows)('$situation → $action ($rule)', (row) => {
    const d = decide(row.cluster, row.local, { ...settings, ...row.settings });
    expect(d.action.kind).toBe(row.action);
    expect(d.rule).toBe(row.rule);
    expect(d.reason).toMatch(row.reason);
    if (row.leader !== undefined) expect((d.action as { leader?: string | null }).leader).toBe(row.leader);
  });

  it('every rule is exercised by some row', () => {
    const used = new Set(rows.map((r) => r.rule));
    const unused = RULES.map((r) => r.id).filter((id) => !used.has(id));
    expect(unused).toEqual([]);
  });

  it('each rule builds the action kind it declares', () => {
    for (const row of rows) {
      const d = decide(row.cluster, row.local, { ...settings, ...row.settings });
      const rule = RULES.find((r) => r.id === d.rule)!;
      expect(d.action.kind).toBe(rule.action);
    }
  });

  it('never keeps a writable primary once the lease deadline passed (rules 1–2)', () => {
    // (Not in pause: there, by design, nobody promotes and the primary keeps running.)
    const clusters = [cluster(), cluster({ leader: 'c' }), cluster({ leader: null }), null];
    for (const c of clusters) {
      for (const reachable of [true, false]) {
        const d = decide(c, leaderLocal(pgPrimary(), { leaseDeadline: NOW - 1, dcsReachable: reachable && c !== null }), settings);
        expect(['fence'], `${JSON.stringify(c?.leader)} reachable=${reachable}: ${d.reason}`).toContain(d.action.kind);
      }
    }
  });
});
