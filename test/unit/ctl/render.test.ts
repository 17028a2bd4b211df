// What `ctl list`, `topology` and `history` print, and the shape of `list --json`.
import { describe, expect, it } from 'vitest';
import { buildListing, formatLagMb, historyEntries, renderHistory, renderListing, renderTable, renderTopology } from '../../../agent/ctl/render.js';
import type { MemberStatus } from '../../../agent/ctl/context.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { clusterRead, threeNodes } from './fakes.js';

const answering = new Map<string, MemberStatus | null>([
  ['node-a', { role: 'primary', pending_restart: false, replication: [
    { application_name: 'node-b', state: 'streaming', sync_state: 'async' },
  ] }],
  ['node-b', { role: 'replica', pending_restart: true }],
  ['node-c', null],
]);

describe('renderTable', () => {
  it('pads every column to its widest cell', () => {
    expect(renderTable(['A', 'Long header'], [['wide cell', 'x'], ['', 'y']])).toBe([
      '+-----------+-------------+',
      '| A         | Long header |',
      '+-----------+-------------+',
      '| wide cell | x           |',
      '|           | y           |',
      '+-----------+-------------+',
    ].join('\n'));
  });

  it('formats lag in MB', () => {
    expect(formatLagMb(null)).toBe('');
    expect(formatLagMb(0)).toBe('0.000');
    expect(formatLagMb(524288)).toBe('0.500');
    expect(formatLagMb(3 * 1048576)).toBe('3.0');
  });
});

describe('ctl list', () => {
  it('shows one row per member: host, role, state, TL, lag, tags, pending restart', () => {
    const text = renderListing(buildListing(clusterRead(), answering));
    expect(text).toBe([
      'Cluster: demo (system id 7390000000000000001)',
      '+--------+-------------+---------+---------+----+-----------+------------+-----------------+',
      '| Member | Host        | Role    | State   | TL | Lag in MB | Tags       | Pending restart |',
      '+--------+-------------+---------+---------+----+-----------+------------+-----------------+',
      '| node-a | node-a:5432 | Leader  | running | 2  |           |            |                 |',
      '| node-b | node-b:5432 | Replica | running | 2  | 0.000     |            | *               |',
      '| node-c | node-c:5432 | Replica | running | 2  | 2.0       | nofailover | ?               |',
      '+--------+-------------+---------+---------+----+-----------+------------+-----------------+',
      '',
    ].join('\n'));
  });

  it('says when the cluster is paused, has no leader, or has a switchover scheduled', () => {
    const read = clusterRead(threeNodes({ leader: null, failover: { leader: 'node-a', candidate: 'node-b', scheduledAt: '2025-01-02T03:00:00Z' } }), { ...DEFAULT_DYNAMIC_CONFIG, pause: true });
    const text = renderListing(buildListing(read, answering));
    expect(text).toContain(' No leader: the leader key is not held.');
    expect(text).toContain(' Maintenance mode: on (cluster paused: no automatic failover)');
    expect(text).toContain(' Switchover scheduled at 2025-01-02T03:00:00Z: from node-a to node-b');
  });

  it('--json has a stable shape', () => {
    const listing = buildListing(clusterRead(threeNodes({ sync: { leader: 'node-a', syncStandbys: ['node-b'] } })), answering);
    expect(listing).toEqual({
      scope: 'demo',
      system_id: '7390000000000000001',
      leader: 'node-a',
      paused: false,
      scheduled_switchover: null,
      members: [
        expect.objectContaining({ name: 'node-a', role: 'leader', lag_bytes: null, pending_restart: false }),
        expect.objectContaining({ name: 'node-b', role: 'sync_standby', lag_bytes: 0, pending_restart: true }),
        expect.objectContaining({ name: 'node-c', role: 'replica', lag_bytes: 2 * 1048576, pending_restart: null }),
      ],
    });
    expect(Object.keys(listing.members[0]!).sort()).toEqual(
      ['api_url', 'host', 'lag_bytes', 'name', 'pending_restart', 'port', 'role', 'state', 'tags', 'timeline'],
    );
    expect(listing.members[2]!.tags).toEqual({ nofailover: true, failover_priority: 1, noloadbalance: false, nosync: false });
  });
});

describe('ctl topology', () => {
  it('puts the replicas under the leader, with how each replicates from it', () => {
    expect(renderTopology(clusterRead(), answering)).toBe([
      'Cluster: demo',
      'node-a (node-a:5432) [Leader, running, TL 2]',
      '├─ node-b (node-b:5432) [Replica, running, TL 2, lag 0.000 MB] ← node-a: streaming, async',
      '└─ node-c (node-c:5432) [Replica, running, TL 2, lag 2.0 MB, nofailover] — not replicating from node-a',
      '',
    ].join('\n'));
  });

  it('says nothing about replication when the leader reports none, and when the leader does not answer', () => {
    const quiet = new Map(answering);
    quiet.set('node-a', null);
    expect(renderTopology(clusterRead(), quiet).split('\n').slice(1, 4)).toEqual([
      'node-a (node-a:5432) [Leader, running, TL 2] (node-a did not answer)',
      '├─ node-b (node-b:5432) [Replica, running, TL 2, lag 0.000 MB]',
      '└─ node-c (node-c:5432) [Replica, running, TL 2, lag 2.0 MB, nofailover]',
    ]);
  });

  it('lists every member at the top when there is no leader', () => {
    const text = renderTopology(clusterRead(threeNodes({ leader: null })), answering);
    expect(text.split('\n').slice(1, 3)).toEqual(['(no leader)', 'node-a (node-a:5432) [Primary (no key), running, TL 2]']);
  });
});

describe('ctl history', () => {
  it('shows timeline, LSN, reason, time and new leader', () => {
    const entries = historyEntries(clusterRead());
    expect(entries).toEqual([{ timeline: 1, lsn: 0x1_000_000, lsn_text: '0/1000000', reason: 'no recovery target specified', timestamp: '2025-01-01T00:00:00Z', new_leader: 'node-a' }]);
    const text = renderHistory(entries);
    expect(text).toContain('| TL | LSN       | LSN (bytes) | Reason                       | Timestamp            | New Leader |');
    expect(text).toContain('| 1  | 0/1000000 | 16777216    | no recovery target specified | 2025-01-01T00:00:00Z | node-a     |');
  });

  it('says so when there is no history yet', () => {
    expect(renderHistory([])).toMatch(/first timeline/);
  });
});
