// GET /metrics on every node of a real cluster: role gauges match the real roles, the timeline
// gauge matches /status, and the leader's per-replica lag shows a replica whose replay is paused
// more than 1 MB behind while the other is at 0.
import { describe, expect, it } from 'vitest';
import { withCluster, type LocalCluster, type LocalNode } from '../../harness/index.js';
import { direct, makeReplayLag, MB, parsePrometheus, replayLagBytes, resumeReplay, samples, single, type Sample } from './support.js';

async function scrape(cluster: LocalCluster, node: LocalNode): Promise<{ text: string; contentType: string; samples: Sample[] }> {
  const res = await fetch(`${node.apiUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, contentType: res.headers.get('content-type') ?? '', samples: parsePrometheus(text) };
}

describe('Prometheus metrics on a real cluster', () => {
  const cluster = withCluster({ agents: 3, scope: 'itmetrics', waitReady: { timeoutMs: 120_000 } });

  it('role gauges, timeline and per-replica replication lag match the cluster', async () => {
    const primary = await cluster.waitForPrimary();
    const [lagging, healthy] = cluster.nodes.filter((n) => n.name !== primary.name) as [LocalNode, LocalNode];
    const realLag = await makeReplayLag(cluster, primary, lagging, { table: 'it_metrics_lag', minLagMb: 8 });
    // The healthy replica has replayed everything (PostgreSQL's own positions).
    await cluster.waitFor(() => replayLagBytes(cluster, primary, healthy), {
      timeoutMs: 15_000, what: `${healthy.name} caught up`, until: (lag) => lag <= 0,
    });

    // The leader publishes its position and the replicas theirs once per loop cycle: wait for the
    // leader's scrape to show both (the deadline is the assertion that it gets there).
    const lagOf = (s: readonly Sample[], member: string) => samples(s, 'pgwarden_replication_lag_bytes', { member })[0]?.value;
    const leader = await cluster.waitFor(() => scrape(cluster, primary), {
      timeoutMs: 10_000, intervalMs: 200, what: `the leader's metrics to show ${lagging.name} > 1 MB behind and ${healthy.name} at 0`,
      until: (m) => (lagOf(m.samples, lagging.name) ?? 0) > MB && lagOf(m.samples, healthy.name) === 0,
    });
    expect(leader.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(samples(leader.samples, 'pgwarden_replication_lag_bytes').map((s) => s.labels.member).sort()).toEqual([lagging.name, healthy.name].sort());
    // Never more than the lag PostgreSQL measured from the primary's live position (the leader
    // measures from its published position, at most one cycle old).
    expect(lagOf(leader.samples, lagging.name)).toBeLessThanOrEqual(realLag + MB);
    process.stdout.write(`metrics: ${lagging.name} lag ${lagOf(leader.samples, lagging.name)} bytes (PostgreSQL: ${realLag})\n`);

    const statuses = await cluster.statuses();
    for (const node of cluster.nodes) {
      const m = node === primary ? leader : await scrape(cluster, node);
      const isPrimary = node === primary;
      const labels = { scope: 'itmetrics', name: node.name };
      const gauges = Object.fromEntries(['primary', 'replica', 'leader', 'postgres_running', 'paused'].map((g) => [g, single(m.samples, `pgwarden_${g}`, labels)]));
      expect({ node: node.name, ...gauges }).toEqual({
        node: node.name, primary: isPrimary ? 1 : 0, replica: isPrimary ? 0 : 1, leader: isPrimary ? 1 : 0, postgres_running: 1, paused: 0,
      });
      // Timeline as /status says and as PostgreSQL says.
      const [{ tl }] = await direct<{ tl: number }>(cluster, node, isPrimary
        ? 'SELECT (\'x\' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tl'
        : 'SELECT received_tli AS tl FROM pg_stat_wal_receiver') as [{ tl: number }];
      expect({ node: node.name, timeline: single(m.samples, 'pgwarden_timeline', labels) })
        .toEqual({ node: node.name, timeline: statuses[node.name]!.timeline });
      expect(statuses[node.name]!.timeline).toBe(tl);
      // Process metrics come with the pgwarden_ prefix.
      expect(samples(m.samples, 'pgwarden_process_resident_memory_bytes', labels)).toHaveLength(1);
    }
    // Each replica also reports its own lag.
    const own = await scrape(cluster, lagging);
    expect(samples(own.samples, 'pgwarden_replication_lag_bytes').map((s) => s.labels.member)).toEqual([lagging.name]);
    expect(lagOf(own.samples, lagging.name)).toBeGreaterThan(MB);

    await resumeReplay(cluster, primary, lagging);
    await cluster.waitFor(() => scrape(cluster, primary), {
      timeoutMs: 10_000, intervalMs: 200, what: `the leader's metrics to show ${lagging.name} caught up`,
      until: (m) => lagOf(m.samples, lagging.name) === 0,
    });
  });
});
