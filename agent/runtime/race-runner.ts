// Runs the peer half of a leader race: ask every other member's API for its status (in
// parallel, short timeout), then let the pure core decide.
import type { ClusterView, Decision, HaSettings, LocalView, PeerStatus } from '../core/types.js';
import { decideRace } from '../core/race.js';
import type { PeerStatusFetcher } from '../ports/ports.js';

export interface RaceDeps {
  readonly fetchPeer: PeerStatusFetcher;
  readonly toPeerStatus: (name: string, doc: unknown) => PeerStatus;
}

export async function askPeers(deps: RaceDeps, cluster: ClusterView, self: string, timeoutMs: number): Promise<PeerStatus[]> {
  const peers = cluster.members.filter((m) => m.name !== self && m.apiUrl);
  return Promise.all(peers.map(async (m) => {
    try {
      return deps.toPeerStatus(m.name, await deps.fetchPeer(m.apiUrl, timeoutMs));
    } catch {
      return { name: m.name, reachable: false, role: null, running: false, timeline: null, walLsn: null, replayedLsn: null, tags: null };
    }
  }));
}

export async function runRace(
  deps: RaceDeps, cluster: ClusterView, local: LocalView, settings: HaSettings, timeoutMs: number,
): Promise<{ decision: Decision; peers: PeerStatus[] }> {
  const peers = await askPeers(deps, cluster, local.name, timeoutMs);
  const pg = local.pg;
  const walLsn = pg.role === 'primary' ? pg.walLsn : maxOf(pg.receivedLsn, pg.replayedLsn);
  const decision = decideRace({ name: local.name, tags: local.tags, walLsn, peers, cluster, settings });
  return { decision, peers };
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
