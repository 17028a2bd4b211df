// The HA loop feeds monitoring: each cycle's duration and decision, leader changes between cluster
// views, and the dynamic config in force (GET /config). Fakes stand in for etcd and PostgreSQL:
// a replica following node-a, whose leader key then moves to node-c.
import { systemClock } from '../../../agent/clock.js';
import { describe, expect, it } from 'vitest';
import type { ClusterView, PgView } from '../../../agent/core/types.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { AgentMetrics } from '../../../agent/api/metrics.js';
import type { ClusterSnapshot, Dcs, PostgresNode } from '../../../agent/ports/ports.js';
import { clusterView, member, replicaState, OPTIME } from '../api/builders.js';
import { fake, replicaLoop } from './fakes.js';

describe('HaLoop → metrics', () => {
  it('counts decisions and leader changes, times cycles, and publishes the dynamic config', async () => {
    let t = 1000;
    const clock = { ...systemClock, now: () => t, wallNow: () => 1_735_689_600_000 + t };
    const replicaPg: PgView = replicaState().pg;
    let view: ClusterView = clusterView({ members: [member('node-a', { role: 'primary' }), member('node-b'), member('node-c')] });
    const config = { ...DEFAULT_DYNAMIC_CONFIG, ttl: 30, loop_wait: 10, retry_timeout: 10 };
    const dcs = fake<Dcs>({
      readCluster: async (): Promise<ClusterSnapshot> => {
        t += 5;
        return { view, config, configRevision: 7, revision: 9, leaderIsOurs: false, initializeIsOurs: false };
      },
    });
    const pg = fake<PostgresNode>({ probe: async () => replicaPg, onUnexpectedExit: () => undefined, replication: async () => [] });
    let metrics!: AgentMetrics;
    const { loop, store } = replicaLoop({
      dcs, pg, clock,
      metrics: (state) => (metrics = new AgentMetrics({ scope: 'demo', name: 'node-b', clock, state: () => state.get(), processMetrics: false })),
    });

    const first = await loop.cycle();
    expect(store.get().dynamicConfig).toEqual(config);
    view = { ...view, leader: 'node-c', status: { optime: OPTIME, timeline: 2 } };
    await loop.cycle();

    const text = await metrics.scrape();
    expect(text).toContain(`pgwarden_decisions_total{action="${first.action.kind}",scope="demo",name="node-b"}`);
    expect(text).toContain('pgwarden_leader_changes_total{scope="demo",name="node-b"} 1');
    expect(text).toContain('pgwarden_ha_loop_duration_seconds_count{scope="demo",name="node-b"} 2');
    expect(text).toContain('pgwarden_ha_loop_duration_seconds_sum{scope="demo",name="node-b"} 0.01');
  });
});
