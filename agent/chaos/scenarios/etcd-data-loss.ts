// etcd loses its data (issue 11, item 1): every key of the cluster and every lease gone at once,
// while the nodes keep their data directories, as when all etcd members are rebuilt empty. The
// cluster must be re-initialized around the most advanced data, never a replica behind it: the
// runner's writer checks that no acknowledged write is lost (in synchronous mode that fails the
// run), and its probe that two nodes never accept writes together.
import type { Scenario, ScenarioContext } from './types.js';

/** Revoke every lease and delete every key under the cluster's prefix: what a wiped etcd holds. */
async function wipeEtcd(ctx: ScenarioContext): Promise<void> {
  // Keys first (leader and initialize vanish together, as in a wiped etcd), then the leases.
  const prefix = `${ctx.cluster.namespace.replace(/\/+$/, '')}/${ctx.cluster.scope}/`;
  const del = await ctx.cluster.etcdctl(['del', '--prefix', prefix]);
  if (!del.ok) throw new Error(`etcdctl del --prefix ${prefix} failed: ${del.stderr.trim()}`);
  const leases = await ctx.cluster.etcdctl(['lease', 'list']);
  if (!leases.ok) throw new Error(`etcdctl lease list failed: ${leases.stderr.trim()}`);
  const ids = leases.stdout.split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f]+$/.test(l));
  for (const id of ids) await ctx.cluster.etcdctl(['lease', 'revoke', id]);
  ctx.step(`deleted every key under ${prefix} and revoked ${ids.length} lease(s)`);
}

export const etcdDataLoss: Scenario = {
  name: 'etcd-data-loss',
  description: 'etcd loses every key and lease (members rebuilt empty) while the nodes keep their data: the cluster is re-initialized around the most advanced data, 0 acknowledged writes lost',
  netns: false,
  async run(ctx) {
    ctx.step(`wipe etcd (primary was ${ctx.primary.name})`);
    ctx.faultInjected();
    await wipeEtcd(ctx);
    // The old primary fences itself at its next renewal (its lease is gone); then the members
    // wait ttl + 2 × loop_wait for each other and race on their positions.
    await ctx.sleep(2000);
    const next = await ctx.cluster.waitForPrimary({ timeoutMs: 60_000 });
    ctx.step(`re-initialized around ${next.name}`);
    ctx.healed();
    return { notes: [`re-initialized around ${next.name} (primary was ${ctx.primary.name})`] };
  },
};
