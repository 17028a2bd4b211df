// A replica whose replay is paused far beyond maximum_lag_on_failover must not be promoted when
// the primary is lost; the caught-up replica is.
import { describe, expect, it } from 'vitest';
import { sql, withCluster } from '../../harness/index.js';
import { agentLog, direct, otherNodes } from './support.js';

describe('a lagging replica is never promoted', () => {
  const cluster = withCluster({ agents: 3, scope: 'itlag', dcs: { maximum_lag_on_failover: 1048576 }, waitReady: { timeoutMs: 120_000 } });

  it('promotes the caught-up replica, not the one replaying 16 MB behind', async () => {
    const primary = await cluster.waitForPrimary();
    const [lagging, healthy] = otherNodes(cluster, primary);
    await direct(cluster, lagging!, 'SELECT pg_wal_replay_pause()');
    await sql(cluster.rwConnString(), 'CREATE TABLE it_lag AS SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 60000) g', [], { timeoutMs: 30_000 });
    // Wait until the leader has published a position more than 16 MB past the paused replay.
    await cluster.waitFor(async () => {
      const p = await cluster.apiStatus(primary);
      const l = await cluster.apiStatus(lagging!);
      return (p.xlog as { location: number }).location - (l.xlog as { replayed_location: number }).replayed_location;
    }, { timeoutMs: 20_000, what: 'replay lag over 16 MB', until: (lag) => lag > 16 * 1048576 });
    // The healthy replica has replayed everything.
    await cluster.waitFor(() => cluster.apiStatus(healthy!), {
      timeoutMs: 20_000, what: `${healthy!.name} caught up`,
      until: (s) => {
        const x = s.xlog as { replayed_location: number };
        return x.replayed_location >= (s as { xlog: { received_location: number } }).xlog.received_location;
      },
    });
    await new Promise((r) => setTimeout(r, 1500)); // let the leader publish its final position
    await cluster.killNode(primary);
    const next = await cluster.waitForPrimary({ exclude: [primary.name], timeoutMs: 30_000 });
    expect(next.name).toBe(healthy!.name);
    const refusals = agentLog(lagging!).filter((l) => l.rule === 'leaderless.ineligible');
    expect(refusals.map((l) => l.msg)).toContainEqual(expect.stringMatching(/replay lag \d+ bytes > maximum_lag_on_failover 1048576/));
    expect(agentLog(lagging!).some((l) => l.action === 'promote')).toBe(false);
    await direct(cluster, lagging!, 'SELECT pg_wal_replay_resume()').catch(() => undefined);
  });
});
