// Decision-table rows: the leader key names me: taken on my lease or not, healthy or not.
import type { Rule } from './rule.js';
import { downPastStartTimeout } from './helpers.js';
import { iLead, keyNamesMe, lastRanAsPrimary, leaseValid, pgDown, pgPrimary, pgReplica, seconds, startBackingOff } from '../situation.js';
import { eligibleReplicas } from '../eligibility.js';
import { syncBarsPromotion } from '../sync.js';

export const OWN_KEY_RULES: readonly Rule[] = [
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
];

export const LEADER_RULES: readonly Rule[] = [
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
];
