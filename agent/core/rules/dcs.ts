// Decision-table rows: etcd unreachable, and a `leader` key no member can own.
import type { Rule } from './rule.js';
import { invalidFor, paused } from './helpers.js';
import { leaseValid, member, msLeft, pgPrimary, seconds } from '../situation.js';
import { invalidLeaderGraceMs, invalidLeaderKey } from '../leader-key.js';

export const DCS_RULES: readonly Rule[] = [
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
];
