// Network faults (need netns: true): silent DROP partitions inside the primary's namespace, and
// latency through delay relays. Every fault is healed in a finally block.
import type { Scenario } from './types.js';

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
    ctx.step(`partition ${ctx.primary.name} from etcd (iptables DROP) for ${4 * ctx.ttlMs} ms`);
    ctx.faultInjected();
    net.partition(ctx.primary.name, 'etcd');
    let next = 'none';
    try {
      next = (await ctx.waitNewPrimary(ctx.primary.name, 30_000)).name;
      ctx.step(`new primary ${next}`);
      await ctx.sleep(4 * ctx.ttlMs);
    } finally {
      net.heal(ctx.primary.name);
    }
    ctx.step(`healed ${ctx.primary.name}`);
    ctx.healed();
    return { notes: [`new primary ${next}`] };
  },
};

export const partitionReplicas: Scenario = {
  name: 'partition-replicas',
  description: 'DROP all packets between the primary and every replica for 4×ttl (etcd and HAProxy still reachable)',
  netns: true,
  async run(ctx) {
    const net = requireNet(ctx);
    ctx.step(`partition ${ctx.primary.name} from ${ctx.replicas.map((r) => r.name).join(', ')} for ${4 * ctx.ttlMs} ms`);
    ctx.faultInjected();
    try {
      for (const r of ctx.replicas) net.partition(ctx.primary.name, { node: r.name });
      await ctx.sleep(4 * ctx.ttlMs);
    } finally {
      net.heal(ctx.primary.name);
    }
    ctx.step(`healed ${ctx.primary.name}`);
    ctx.healed();
    return {};
  },
};

export const partitionHaproxy: Scenario = {
  name: 'partition-haproxy',
  description: 'DROP all packets between the primary and HAProxy for 3×ttl (the primary keeps its lease: writes stop until heal)',
  netns: true,
  async run(ctx) {
    const net = requireNet(ctx);
    ctx.step(`partition ${ctx.primary.name} from HAProxy for ${3 * ctx.ttlMs} ms`);
    ctx.faultInjected();
    try {
      net.partition(ctx.primary.name, 'haproxy');
      await ctx.sleep(3 * ctx.ttlMs);
    } finally {
      net.heal(ctx.primary.name);
    }
    ctx.step(`healed ${ctx.primary.name}`);
    ctx.healed();
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
    ctx.step(`150±50 ms latency on every connection of ${ctx.primary.name} for ${4 * ctx.ttlMs} ms`);
    ctx.faultInjected();
    let rtt: number;
    try {
      ctx.cluster.setLatency(ctx.primary, 150, 50);
      await ctx.sleep(500);
      rtt = await apiRoundTrip(ctx);
      // Proof that the fault hit: a request and its answer each wait at least 100 ms.
      if (rtt < 200) throw new Error(`latency not in effect: GET /liveness on ${ctx.primary.name} took ${rtt} ms`);
      ctx.step(`GET /liveness on ${ctx.primary.name} takes ${rtt} ms`);
      await ctx.sleep(4 * ctx.ttlMs - 500);
    } finally {
      ctx.cluster.setLatency(ctx.primary, 0, 0);
    }
    ctx.step(`latency removed from ${ctx.primary.name}`);
    ctx.healed();
    return { notes: [`API round trip under latency ${rtt} ms`] };
  },
};
