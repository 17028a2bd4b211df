// PostgreSQL crash on the primary (SIGKILL of the postmaster only): the agent restarts it in
// place; the same node stays leader and no failover happens.
import { describe, expect, it } from 'vitest';
import { withCluster, Writer } from '../../harness/index.js';
import { agentLog } from './support.js';

describe('PostgreSQL crash on the primary', () => {
  const cluster = withCluster({ agents: 3, scope: 'itcrash', waitReady: { timeoutMs: 120_000 } });

  it('restarts it in place with the same leader and timeline', async () => {
    const primary = await cluster.waitForPrimary();
    const before = await cluster.apiStatus(primary);
    const writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50 }).start();
    const seenPrimaries = new Set<string>();
    try {
      await writer.waitForAcks(10, 20_000);
      const oldPid = await cluster.killPostgres(primary, { postmasterOnly: true });
      // Watch every agent for 8 s: nobody else may become primary.
      const until = Date.now() + 8000;
      while (Date.now() < until) {
        for (const [name, s] of Object.entries(await cluster.statuses(500))) if (s.role === 'primary') seenPrimaries.add(name);
        await new Promise((r) => setTimeout(r, 200));
      }
      await writer.waitForAcks(10, 20_000);
      const newPid = cluster.postmasterPid(primary);
      expect(newPid).not.toBeNull();
      expect(newPid).not.toBe(oldPid);
    } finally {
      await writer.stop();
    }
    expect([...seenPrimaries]).toEqual([primary.name]);
    const after = await cluster.apiStatus(primary);
    expect(after.role).toBe('primary');
    expect(after.timeline).toBe(before.timeline);
    const restarts = agentLog(primary).filter((l) => l.rule === 'leader.restart-in-place');
    expect(restarts.length).toBeGreaterThanOrEqual(1);
    const history = await cluster.api(primary, '/history');
    expect(history.body).toEqual([]);
    const verify = await writer.verify(cluster.rwConnString());
    expect(verify.lost).toEqual([]);
  });
});
