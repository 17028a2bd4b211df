// Issue 11, item 3: a planned stop of the whole cluster (SIGTERM to every agent, the replicas
// first) used to lose acknowledged writes in asynchronous mode: the primary released its key
// without publishing its final position, and on restart a replica that had stopped earlier
// promoted against a stale `status`. Now the primary publishes its shutdown checkpoint, marked
// `shutdown` because no replica confirmed it, and no replica behind it may take over until the
// former primary is back: it leads again, and nothing acknowledged is lost.
import { describe, expect, it } from 'vitest';
import { withCluster, Writer } from '../../harness/index.js';

describe('whole-cluster stop and start, replicas first', () => {
  const cluster = withCluster({ agents: 3, scope: 'itstop', waitReady: { timeoutMs: 120_000 } });

  it('no replica behind the stopped primary takes over; the former primary leads again; 0 lost', async () => {
    const primary = await cluster.waitForPrimary();
    const replicas = ['node1', 'node2', 'node3'].filter((n) => n !== primary.name);
    const writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 30 }).start();
    try {
      await writer.waitForAcks(20, 30_000);
      for (const r of replicas) await cluster.stopAgent(r);
      // Writes go on against the primary alone: WAL the stopped replicas never received.
      const acked = writer.acked.length;
      await writer.waitForAcks(acked + 20, 30_000);
      await cluster.stopAgent(primary);
    } finally {
      await writer.stop();
    }
    const status = await cluster.etcdctl(['get', '--print-value-only', `${cluster.namespace}/${cluster.scope}/status`]);
    expect(JSON.parse(status.stdout.trim())).toMatchObject({ shutdown: true });

    for (const r of replicas) cluster.startAgent(r);
    // Give them far more than a failover needs (ttl 3 s): none may promote.
    const until = performance.now() + 12_000;
    while (performance.now() < until) {
      const st = await cluster.statuses(1000);
      expect(Object.values(st).filter((s) => s.role === 'primary')).toEqual([]);
      await new Promise((r) => setTimeout(r, 500));
    }
    cluster.startAgent(primary);
    const next = await cluster.waitForPrimary({ timeoutMs: 60_000 });
    expect(next.name).toBe(primary.name);
    await cluster.waitUntilReady({ timeoutMs: 90_000, replicas: 2 });
    const verify = await writer.verify(cluster.rwConnString());
    expect(verify.lost).toEqual([]);
    process.stdout.write(`whole-cluster stop: ${writer.acked.length} acknowledged, ${verify.lost.length} lost\n`);
  }, 240_000);
});
