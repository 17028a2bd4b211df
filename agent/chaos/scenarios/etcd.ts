// DCS faults. etcd members are "lost" by SIGSTOP (they vanish without closing a socket, the way a
// crashed or cut-off machine does) and come back by SIGCONT, so the member keeps its data.
import type { LocalCluster } from '../../local/cluster.js';
import { holdFault, type Scenario } from './types.js';

/** 0-based index of the raft leader, from `etcdctl endpoint status`. */
export async function etcdLeaderIndex(cluster: LocalCluster): Promise<number> {
  const eps = cluster.etcdEndpoints;
  const r = await cluster.etcdctl(['endpoint', 'status', '-w', 'json'], { timeoutMs: 3000 });
  if (!r.ok) throw new Error(`etcdctl endpoint status failed: ${r.stderr.trim()}`);
  const rows = JSON.parse(r.stdout) as { Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }[];
  const i = rows.findIndex((x) => String(x.Status.header.member_id) === String(x.Status.leader));
  if (i < 0) throw new Error('etcd has no leader');
  const idx = eps.indexOf(rows[i]!.Endpoint);
  if (idx < 0) throw new Error(`unknown etcd endpoint ${rows[i]!.Endpoint}`);
  return idx;
}

export const etcdMemberLoss: Scenario = {
  name: 'etcd-member-loss',
  description: 'lose one etcd member (a follower, SIGSTOP) for 4×ttl: quorum holds, nothing should happen',
  netns: false,
  async run(ctx) {
    const leader = await etcdLeaderIndex(ctx.cluster);
    const victim = (leader + 1) % ctx.cluster.etcdEndpoints.length;
    await holdFault(ctx, {
      what: `freeze etcd${victim + 1} (follower) for ${4 * ctx.ttlMs} ms`,
      inject: () => ctx.cluster.freezeEtcd([victim]),
      heal: () => ctx.cluster.thawEtcd([victim]),
      holdMs: 4 * ctx.ttlMs,
    });
    return { notes: [`etcd${victim + 1} lost`] };
  },
};

export const etcdLeaderLoss: Scenario = {
  name: 'etcd-leader-loss',
  description: 'lose the etcd raft leader (SIGSTOP) for 4×ttl: the others elect a new leader; the primary should keep its lease',
  netns: false,
  async run(ctx) {
    const leader = await etcdLeaderIndex(ctx.cluster);
    await holdFault(ctx, {
      what: `freeze etcd raft leader etcd${leader + 1} for ${4 * ctx.ttlMs} ms`,
      inject: () => ctx.cluster.freezeEtcd([leader]),
      heal: () => ctx.cluster.thawEtcd([leader]),
      holdMs: 4 * ctx.ttlMs,
    });
    return { notes: [`etcd${leader + 1} (leader) lost`] };
  },
};

export const etcdQuorumLoss: Scenario = {
  name: 'etcd-quorum-loss',
  description: 'lose 2 of 3 etcd members for 4×ttl: no lease can be renewed, the primary must fence itself; then restore',
  netns: false,
  async run(ctx) {
    const n = ctx.cluster.etcdEndpoints.length;
    const victims = Array.from({ length: Math.floor(n / 2) + 1 }, (_, i) => i);
    await holdFault(ctx, {
      what: `freeze etcd${victims.map((v) => v + 1).join(',etcd')} (quorum lost) for ${4 * ctx.ttlMs} ms`,
      inject: () => ctx.cluster.freezeEtcd(victims),
      heal: () => ctx.cluster.thawEtcd(victims),
      holdMs: 4 * ctx.ttlMs,
    });
    return {};
  },
};
