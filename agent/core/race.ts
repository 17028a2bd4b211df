// The second half of a leader race: having asked its peers, should this replica take the key?
// Rule 4: stand down if any reachable peer is still primary, or is an *eligible* candidate that
// is further ahead (ties broken by failover_priority, then name). Peers that may not be
// promoted themselves (lagging replay, nofailover, wrong timeline, not in sync) are no rivals:
// standing down for them would leave the cluster without a primary. Unreachable peers are
// ignored: they cannot serve anyway.
import type { ClusterView, Decision, HaSettings, Lsn, PeerStatus, Tags } from './types.js';
import { isEligible } from './eligibility.js';

export interface RaceInput {
  readonly name: string;
  readonly tags: Tags;
  /** max(received, replayed) of our replica: how much WAL we have. */
  readonly walLsn: Lsn | null;
  readonly peers: readonly PeerStatus[];
  readonly cluster: ClusterView;
  readonly settings: HaSettings;
}

function fmt(lsn: Lsn | null): string {
  return lsn === null ? 'unknown' : String(lsn);
}

function peerEligible(peer: PeerStatus, input: RaceInput): boolean {
  if (!peer.tags) return false;
  return isEligible({
    name: peer.name, tags: peer.tags, running: peer.running, role: peer.role,
    timeline: peer.timeline, replayedLsn: peer.replayedLsn,
  }, input.cluster, input.settings).ok;
}

export function decideRace(input: RaceInput): Decision {
  const mine = input.walLsn ?? -1;
  // The operator named us (switchover/failover): only a live primary may stop us.
  const named = input.cluster.failover?.candidate === input.name;
  const consulted: string[] = [];
  for (const peer of input.peers) {
    if (!peer.reachable) {
      consulted.push(`${peer.name}=unreachable`);
      continue;
    }
    if (peer.running && peer.role === 'primary') {
      return { action: { kind: 'stand_down' }, reason: `primary ${peer.name} is still alive`, rule: 'race.primary-alive' };
    }
    if (named || !peerEligible(peer, input)) {
      consulted.push(`${peer.name}=${named ? 'not compared (I am the requested candidate)' : 'ineligible'}`);
      continue;
    }
    consulted.push(`${peer.name}=${fmt(peer.walLsn)}`);
    const theirs = peer.walLsn ?? -1;
    const tags = peer.tags!;
    if (theirs > mine) {
      return {
        action: { kind: 'stand_down' },
        reason: `${peer.name} is further ahead (${fmt(peer.walLsn)} > ${fmt(input.walLsn)})`,
        rule: 'race.peer-ahead',
      };
    }
    if (theirs === mine && tags.failoverPriority > input.tags.failoverPriority) {
      return {
        action: { kind: 'stand_down' },
        reason: `${peer.name} has the same position and higher failover_priority (${tags.failoverPriority} > ${input.tags.failoverPriority})`,
        rule: 'race.peer-priority',
      };
    }
    if (theirs === mine && tags.failoverPriority === input.tags.failoverPriority && peer.name < input.name) {
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
