// Fakes for driving the HA loop in unit tests: a proxy whose every method resolves to undefined
// unless overridden, and a HaLoop for replica node-b of the API builders around given fakes.
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { toHaSettings } from '../../../agent/config/dynamic.js';
import { createLogger, type Logger } from '../../../agent/log.js';
import type { Clock } from '../../../agent/clock.js';
import { HaLoop } from '../../../agent/runtime/ha-loop.js';
import { NodeStateStore } from '../../../agent/runtime/node-state.js';
import type { Dcs, LoopMetrics, PostgresNode } from '../../../agent/ports/ports.js';
import { replicaState } from '../api/builders.js';

/** Every method resolves to undefined unless overridden. */
export function fake<T extends object>(overrides: Partial<T>): T {
  return new Proxy(overrides, {
    get: (target, prop) => (prop in target ? (target as Record<string | symbol, unknown>)[prop] : async () => undefined),
  }) as T;
}

/** The HA loop of node-b (a replica, see replicaState()) over fake etcd and PostgreSQL. */
export function replicaLoop(o: {
  dcs: Dcs; pg: PostgresNode; clock: Clock; logger?: Logger; metrics?: (store: NodeStateStore) => LoopMetrics;
}): { loop: HaLoop; store: NodeStateStore } {
  const store = new NodeStateStore({ ...replicaState(), dynamicConfig: null, cluster: null });
  const loop = new HaLoop({
    identity: { name: 'node-b', apiUrl: 'http://node-b:8008/', host: 'node-b', port: 5432, tags: replicaState().tags },
    scope: 'demo', dcs: o.dcs, pg: o.pg, store, clock: o.clock, logger: o.logger ?? createLogger({ level: 'silent', format: 'json' }),
    race: { fetchPeer: async () => null, toPeerStatus: () => null } as never,
    bootstrapConfig: DEFAULT_DYNAMIC_CONFIG, toSettings: toHaSettings, ...(o.metrics ? { metrics: o.metrics(store) } : {}),
  });
  return { loop, store };
}
