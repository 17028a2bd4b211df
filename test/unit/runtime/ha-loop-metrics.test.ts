// The HA loop feeds monitoring: each cycle's duration and decision, leader changes between cluster
// views, and the dynamic config in force (GET /config). Fakes stand in for etcd and PostgreSQL:
// a replica following node-a, whose leader key then moves to node-c.
import { describe, expect, it } from 'vitest';
import type { ClusterView, PgView } from '../../../agent/core/types.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { toHaSettings } from '../../../agent/config/dynamic.js';
import { createLogger } from '../../../agent/log.js';
import { AgentMetrics } from '../../../agent/api/metrics.js';
import { HaLoop } from '../../../agent/runtime/ha-loop.js';
import { NodeStateStore } from '../../../agent/runtime/node-state.js';
import type { ClusterSnapshot, Dcs, PostgresNode } from '../../../agent/runtime/ports.js';
import { clusterView, member, replicaState, OPTIME } from '../api/builders.js';

/** Every method resolves to undefined unless overridden. */
function fake<T extends object>(overrides: Partial<T>): T {
  return new Proxy(overrides, {
    get: (target, prop) => (prop in target ? (target as Record<string | symbol, unknown>)[prop] : async () => undefined),
  }) as T;
}

describe('HaLoop → metrics', () => {
  it('counts decisions and leader changes, times cycles, and publishes the dynamic config', async () => {
    let t = 1000;
    const clock = { now: () => t, wallNow: () => 1_735_689_600_000 + t };
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
    const store = new NodeStateStore({ ...replicaState(), dynamicConfig: null, cluster: null });
    const metrics = new AgentMetrics({ scope: 'demo', name: 'node-b', clock, state: () => store.get(), processMetrics: false });
    const loop = new HaLoop({
      identity: { name: 'node-b', apiUrl: 'http://node-b:8008/', host: 'node-b', port: 5432, tags: replicaState().tags },
      scope: 'demo', dcs, pg, store, clock, logger: createLogger({ level: 'silent', format: 'json' }),
      race: { fetchPeer: async () => null, toPeerStatus: () => null } as never,
      bootstrapConfig: DEFAULT_DYNAMIC_CONFIG, toSettings: toHaSettings, metrics,
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
