// The leader race after asking peers (rule 4), as a table.
import { describe, expect, it } from 'vitest';
import { decideRace } from '../../../agent/core/race.js';
import type { ClusterView, PeerStatus } from '../../../agent/core/types.js';
import { cluster, member, settings, tags } from './builders.js';

const peer = (name: string, patch: Partial<PeerStatus> = {}): PeerStatus => ({
  name, reachable: true, role: 'replica', running: true, timeline: 1, walLsn: 100, replayedLsn: 100, tags: tags(), ...patch,
});

// No leader; the old leader published optime 100 on timeline 1.
const leaderless = cluster({ leader: null, members: [member('b'), member('c')], status: { optime: 100, timeline: 1 } });

interface Row {
  situation: string;
  peers: PeerStatus[];
  wal: number | null;
  cluster?: ClusterView;
  sync?: boolean;
  expect: string;
  rule: string;
  reason: RegExp;
}

const rows: Row[] = [
  { situation: 'alone', peers: [], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /peers: none/ },
  { situation: 'peers behind', peers: [peer('c', { walLsn: 90, replayedLsn: 90 })], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /c=90/ },
  { situation: 'old primary still alive', peers: [peer('a', { role: 'primary' })], wal: 100, expect: 'stand_down', rule: 'race.primary-alive', reason: /primary a is still alive/ },
  { situation: 'stopped old primary is ignored', peers: [peer('a', { role: 'primary', running: false, walLsn: 500 })], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /a=ineligible/ },
  { situation: 'peer ahead', peers: [peer('c', { walLsn: 101 })], wal: 100, expect: 'stand_down', rule: 'race.peer-ahead', reason: /c is further ahead \(101 > 100\)/ },
  { situation: 'unreachable peer ignored', peers: [peer('c', { reachable: false, walLsn: 999 })], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /c=unreachable/ },
  { situation: 'nofailover peer ahead ignored', peers: [peer('c', { walLsn: 999, tags: tags({ nofailover: true }) })], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /c=ineligible/ },
  { situation: 'peer with replay lag beyond the limit is no rival (regression: no primary elected)',
    cluster: cluster({ leader: null, status: { optime: 50_000_000, timeline: 1 } }),
    peers: [peer('a', { walLsn: 50_000_000, replayedLsn: 10 })], wal: 50_000_000, expect: 'acquire_leader', rule: 'race.healthiest', reason: /a=ineligible/ },
  { situation: 'peer on an older timeline is no rival', cluster: cluster({ leader: null, status: { optime: 100, timeline: 2 } }),
    peers: [peer('a', { timeline: 1, walLsn: 500 })], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /a=ineligible/ },
  { situation: 'equal, peer higher priority', peers: [peer('c', { tags: tags({ failoverPriority: 5 }) })], wal: 100, expect: 'stand_down', rule: 'race.peer-priority', reason: /higher failover_priority \(5 > 1\)/ },
  { situation: 'equal, my priority higher', peers: [peer('a', { tags: tags({ failoverPriority: 0 }) })], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /healthiest/ },
  { situation: 'equal, tie by name (peer a < b)', peers: [peer('a')], wal: 100, expect: 'stand_down', rule: 'race.peer-name', reason: /wins the tie by name/ },
  { situation: 'equal, tie by name (peer c > b)', peers: [peer('c')], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /healthiest/ },
  { situation: 'sync mode: the former sync leader ahead of me is a rival (it holds every acknowledged commit)',
    cluster: cluster({ leader: null, sync: { leader: 'a', syncStandbys: ['b'] }, status: { optime: 100, timeline: 1 } }),
    sync: true, peers: [peer('a', { walLsn: 120 })], wal: 100, expect: 'stand_down', rule: 'race.peer-ahead', reason: /a is further ahead \(120 > 100\)/ },
  { situation: 'sync mode: ahead peer not in sync ignored', cluster: cluster({ leader: null, sync: { leader: 'a', syncStandbys: ['b'] }, status: { optime: 100, timeline: 1 } }),
    sync: true, peers: [peer('c', { walLsn: 999 })], wal: 100, expect: 'acquire_leader', rule: 'race.healthiest', reason: /c=ineligible/ },
  { situation: 'my position unknown, peer known', peers: [peer('c', { walLsn: 1 })], wal: null, expect: 'stand_down', rule: 'race.peer-ahead', reason: /1 > unknown/ },
];

describe('decideRace', () => {
  it.each(rows)('$situation → $expect', (row) => {
    const d = decideRace({
      name: 'b', tags: tags(), walLsn: row.wal, peers: row.peers, cluster: row.cluster ?? leaderless,
      settings: { ...settings, synchronousMode: row.sync ?? false },
    });
    expect(d.action.kind).toBe(row.expect);
    expect(d.rule).toBe(row.rule);
    expect(d.reason).toMatch(row.reason);
  });

  it('two replicas with the same view never both take the key', () => {
    for (const [wa, wb] of [[5, 5], [5, 6], [6, 5]] as const) {
      const c = cluster({ leader: null, status: { optime: 6, timeline: 1 } });
      const a = decideRace({ name: 'a', tags: tags(), walLsn: wa, peers: [peer('b', { walLsn: wb, replayedLsn: wb })], cluster: c, settings });
      const b = decideRace({ name: 'b', tags: tags(), walLsn: wb, peers: [peer('a', { walLsn: wa, replayedLsn: wa })], cluster: c, settings });
      const winners = [a, b].filter((d) => d.action.kind === 'acquire_leader');
      expect(winners, `${wa}/${wb}`).toHaveLength(1);
    }
  });
});
