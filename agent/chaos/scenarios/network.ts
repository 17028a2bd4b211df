// Network faults (need netns: true): silent DROP partitions inside the primary's namespace, and
// netem latency. Every fault is healed in a finally block.
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

export const latency: Scenario = {
  name: 'latency',
  description: 'netem 150±50 ms delay on the primary\'s link for 4×ttl (etcd, replicas and HAProxy all behind it)',
  netns: true,
  async run(ctx) {
    const net = requireNet(ctx);
    ctx.step(`netem delay 150±50 ms on ${ctx.primary.name} for ${4 * ctx.ttlMs} ms`);
    ctx.faultInjected();
    try {
      net.addLatency(ctx.primary.name, 150, 50);
      await ctx.sleep(4 * ctx.ttlMs);
    } finally {
      net.clearLatency(ctx.primary.name);
    }
    ctx.step(`latency removed from ${ctx.primary.name}`);
    ctx.healed();
    return {};
  },
};
