// Node loss: SIGKILL the primary's agent and postmaster together. A replica takes over, writes
// through HAProxy resume, and the old node, started again, rejoins as a streaming replica by
// itself after rewinding its data against the new primary.
import { describe, expect, it } from 'vitest';
import { withCluster, Writer } from '../../harness/index.js';
import { agentLog, direct } from './support.js';

describe('node loss of the primary', () => {
  const cluster = withCluster({ agents: 3, scope: 'itloss', waitReady: { timeoutMs: 120_000 } });

  it('fails over, resumes writes, and the old primary rejoins after a rewind', async () => {
    const old = await cluster.waitForPrimary();
    const writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50 }).start();
    try {
      await writer.waitForAcks(10, 20_000);
      // Make sure the old primary has WAL the replicas never see after the kill? Not needed for
      // a rewind: promotion forks the timeline, so the old primary's last checkpoint diverges.
      await cluster.killNode(old);
      const next = await cluster.waitForPrimary({ exclude: [old.name], timeoutMs: 30_000 });
      expect(next.name).not.toBe(old.name);
      await writer.waitForAcks(10, 30_000);

      const { tl } = (await direct<{ tl: string }>(cluster, next, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tl"))[0]!;
      expect(parseInt(tl, 16)).toBeGreaterThan(1);
      const history = await cluster.api(next, '/history');
      expect(history.status).toBe(200);
      expect(history.body).toEqual(expect.arrayContaining([expect.arrayContaining([1, expect.any(Number), expect.any(String), expect.any(String), next.name])]));

      cluster.startAgent(old);
      await cluster.waitUntilReady({ timeoutMs: 90_000, replicas: 2 });
      const st = await cluster.apiStatus(old);
      expect(st.role).toBe('replica');
      const rows = await cluster.waitFor(() => direct<{ application_name: string; state: string }>(cluster, next,
        'SELECT application_name, state FROM pg_stat_replication'), {
        timeoutMs: 30_000, what: `${old.name} streaming from ${next.name}`,
        until: (r) => r.some((x) => x.application_name === old.name && x.state === 'streaming'),
      });
      expect(rows.length).toBe(2);
      // The rewind path ran on the old primary (rewound, or judged not needed by pg_rewind itself).
      const rewinds = agentLog(old).filter((l) => l.action === 'rewind' && typeof l.outcome === 'string');
      expect(rewinds.map((l) => l.outcome)).toContainEqual(expect.stringMatching(/^(rewound|not_needed)$/));
    } finally {
      await writer.stop();
    }
    const verify = await writer.verify(cluster.rwConnString());
    // Asynchronous mode may lose the last writes in flight; report rather than assert here
    // (npm run bench:failover prints the count; synchronous mode is tested for zero loss).
    process.stdout.write(`node loss: ${writer.acked.length} acknowledged, ${verify.lost.length} lost\n`);
  });
});
