// Network faults (need netns: true): silent DROP partitions inside the primary's namespace, and
// latency through delay relays. Every fault is healed in a finally block.
import { holdFault, type Scenario } from './types.js';

function requireNet(ctx: Parameters<Scenario['run']>[0]) {
  if (!ctx.net) throw new Error('this scenario needs a cluster with netns: true');
  return ctx.net;
}

export const partitionEtcd: Scenario = {
  name: 'partition-etcd',
  description: 'DROP all packets between the primary and etcd for 4×ttl; it must demote itself, a replica takes over',
  netns: true,
  async run(ctx) {
    const net = requireNet(ctx);
    const next = await holdFault(ctx, {
      what: `partition ${ctx.primary.name} from etcd (iptables DROP) for ${4 * ctx.ttlMs} ms`,
      inject: () => net.partition(ctx.primary.name, 'etcd'),
      heal: () => net.heal(ctx.primary.name),
      healedWhat: `healed ${ctx.primary.name}`,
      during: async () => {
        const p = (await ctx.waitNewPrimary(ctx.primary.name, 30_000)).name;
        ctx.step(`new primary ${p}`);
        return p;
      },
      holdMs: 4 * ctx.ttlMs,
    });
    return { notes: [`new primary ${next ?? 'none'}`] };
  },
};

export const partitionReplicas: Scenario = {
  name: 'partition-replicas',
  description: 'DROP all packets between the primary and every replica for 4×ttl (etcd and HAProxy still reachable)',
  netns: true,
  async run(ctx) {
    const net = requireNet(ctx);
    await holdFault(ctx, {
      what: `partition ${ctx.primary.name} from ${ctx.replicas.map((r) => r.name).join(', ')} for ${4 * ctx.ttlMs} ms`,
      inject: () => { for (const r of ctx.replicas) net.partition(ctx.primary.name, { node: r.name }); },
      heal: () => net.heal(ctx.primary.name),
      healedWhat: `healed ${ctx.primary.name}`,
      holdMs: 4 * ctx.ttlMs,
    });
    return {};
  },
};

export const partitionHaproxy: Scenario = {
  name: 'partition-haproxy',
  description: 'DROP all packets between the primary and HAProxy for 3×ttl (the primary keeps its lease: writes stop until heal)',
  netns: true,
  async run(ctx) {
    const net = requireNet(ctx);
    await holdFault(ctx, {
      what: `partition ${ctx.primary.name} from HAProxy for ${3 * ctx.ttlMs} ms`,
      inject: () => net.partition(ctx.primary.name, 'haproxy'),
      heal: () => net.heal(ctx.primary.name),
      healedWhat: `healed ${ctx.primary.name}`,
      holdMs: 3 * ctx.ttlMs,
    });
    return {};
  },
};

/** ms for one GET /liveness on the primary's API (a fresh connection, through its links). */
async function apiRoundTrip(ctx: Parameters<Scenario['run']>[0]): Promise<number> {
  const t0 = Date.now();
  await ctx.cluster.api(ctx.primary, '/liveness', { auth: false, timeoutMs: 5000 });
  return Date.now() - t0;
}

export const latency: Scenario = {
  name: 'latency',
  description: '150±50 ms added to every connection of the primary, both ways, for 4×ttl (etcd, replicas and HAProxy all behind it; delay relays, as this kernel has no tc netem)',
  netns: true,
  latencyRelay: true,
  async run(ctx) {
    const rtt = await holdFault(ctx, {
      what: `150±50 ms latency on every connection of ${ctx.primary.name} for ${4 * ctx.ttlMs} ms`,
      inject: () => ctx.cluster.setLatency(ctx.primary, 150, 50),
      heal: () => ctx.cluster.setLatency(ctx.primary, 0, 0),
      healedWhat: `latency removed from ${ctx.primary.name}`,
      during: async () => {
        await ctx.sleep(500);
        const ms = await apiRoundTrip(ctx);
        // Proof that the fault hit: a request and its answer each wait at least 100 ms.
        if (ms < 200) throw new Error(`latency not in effect: GET /liveness on ${ctx.primary.name} took ${ms} ms`);
        ctx.step(`GET /liveness on ${ctx.primary.name} takes ${ms} ms`);
        return ms;
      },
      holdMs: 4 * ctx.ttlMs - 500,
    });
    return { notes: [`API round trip under latency ${rtt} ms`] };
  },
};
