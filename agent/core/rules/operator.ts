// Decision-table rows: planned switchover, manual failover and maintenance mode.
import type { Rule } from './rule.js';
import { failover, paused, target } from './helpers.js';
import { iLead, member, pgPrimary, pgReplica } from '../situation.js';
import { asksMeToHandOver, notYetDue } from '../switchover.js';

export const OPERATOR_RULES: readonly Rule[] = [
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
];
