// The second half of a leader race: having asked its peers, should this replica take the key?
// Rule 4: stand down if any reachable peer is still primary, or is further ahead (ties broken
// by failover_priority, then name). Unreachable peers are ignored: they cannot serve anyway.
import type { Decision, Lsn, PeerStatus, Tags } from './types.js';
import { neverPromote } from './eligibility.js';

export interface RaceInput {
  readonly name: string;
  readonly tags: Tags;
  /** max(received, replayed) of our replica: how much WAL we have. */
  readonly walLsn: Lsn | null;
  readonly peers: readonly PeerStatus[];
  /** In synchronous mode, only these may win (null: no restriction). */
  readonly allowed: readonly string[] | null;
}

function fmt(lsn: Lsn | null): string {
  return lsn === null ? 'unknown' : String(lsn);
}

export function decideRace(input: RaceInput): Decision {
  const mine = input.walLsn ?? -1;
  const consulted: string[] = [];
  for (const peer of input.peers) {
    if (!peer.reachable) {
      consulted.push(`${peer.name}=unreachable`);
      continue;
    }
    if (peer.running && peer.role === 'primary') {
      return { action: { kind: 'stand_down' }, reason: `primary ${peer.name} is still alive`, rule: 'race.primary-alive' };
    }
    consulted.push(`${peer.name}=${fmt(peer.walLsn)}`);
    if (peer.role !== 'replica' || !peer.running || !peer.tags || neverPromote(peer.tags)) continue;
    if (input.allowed && !input.allowed.includes(peer.name)) continue;
    const theirs = peer.walLsn ?? -1;
    if (theirs > mine) {
      return {
        action: { kind: 'stand_down' },
        reason: `${peer.name} is further ahead (${fmt(peer.walLsn)} > ${fmt(input.walLsn)})`,
        rule: 'race.peer-ahead',
      };
    }
    if (theirs === mine && peer.tags.failoverPriority > input.tags.failoverPriority) {
      return {
        action: { kind: 'stand_down' },
        reason: `${peer.name} has the same position and higher failover_priority (${peer.tags.failoverPriority} > ${input.tags.failoverPriority})`,
        rule: 'race.peer-priority',
      };
    }
    if (theirs === mine && peer.tags.failoverPriority === input.tags.failoverPriority && peer.name < input.name) {
      return {
        action: { kind: 'stand_down' },
        reason: `${peer.name} has the same position and priority and wins the tie by name`,
        rule: 'race.peer-name',
      };
    }
  }
  return {
    action: { kind: 'acquire_leader' },
    reason: `healthiest candidate at ${fmt(input.walLsn)} (peers: ${consulted.join(', ') || 'none'}); taking the leader key`,
    rule: 'race.healthiest',
  };
}
