// The dynamic ttl changed at runtime (issue 10): `ctl edit-config --set ttl=…` as an operator runs
// it, a check in etcd that the leader key now sits on a lease with the new TTL, then the primary
// cut off from etcd with silent drops while its replicas still reach etcd. The split-brain probe
// of the runner asks every node's PostgreSQL directly whether it accepts writes, throughout: a
// primary that fenced by the configured ttl while etcd expired its key by another would show up as
// two writable nodes. The ttl is set back to 3 s in a finally block.
import { PassThrough } from 'node:stream';
import { runCtl } from '../../ctl/index.js';
import type { CtlIo } from '../../ctl/io.js';
import { sleep, systemClock } from '../../clock.js';
import type { LocalNode } from '../../local/cluster.js';
import { holdFault, type Scenario, type ScenarioContext } from './types.js';

const DEFAULT_TTL_S = 3;

/** `pgwarden ctl -c <node's config> edit-config --set ttl=N --force`, in process; output to the step log. */
async function editTtl(ctx: ScenarioContext, ttl: number): Promise<void> {
  let out = '';
  const sink = { write: (s: string) => { out += s; return true; } };
  const io: CtlIo = {
    stdout: sink, stderr: sink, stdin: new PassThrough(), interactive: false, env: {}, homeDir: '/nonexistent',
    now: () => systemClock.now(), wallNow: () => systemClock.wallNow(),
    sleep: (ms, signal) => sleep(systemClock, ms, signal), edit: async () => 1,
  };
  const code = await runCtl(['-c', ctx.primary.configFile, 'edit-config', '--set', `ttl=${ttl}`, '--force', '--quiet'], io);
  if (code !== 0) throw new Error(`ctl edit-config --set ttl=${ttl} exited ${code}: ${out.trim()}`);
  ctx.step(`ctl edit-config --set ttl=${ttl}: ok`);
}

/** The TTL (s) etcd granted the lease that holds the leader key, and who holds it. */
async function leaderLease(ctx: ScenarioContext): Promise<{ leader: string; ttl: number } | null> {
  const key = `${ctx.cluster.namespace.replace(/\/+$/, '')}/${ctx.cluster.scope}/leader`;
  const got = await ctx.cluster.etcdctl(['get', key, '-w', 'json']);
  if (got.code !== 0) return null;
  // Lease IDs are 64-bit: read them from the text, not through JSON numbers.
  const lease = /"lease":(\d+)/.exec(got.stdout)?.[1];
  const value = /"value":"([^"]*)"/.exec(got.stdout)?.[1];
  if (!lease || value === undefined) return null;
  const ttl = await ctx.cluster.etcdctl(['lease', 'timetolive', BigInt(lease).toString(16)]);
  const m = /granted with TTL\((\d+)s\)/.exec(ttl.stdout);
  return m ? { leader: Buffer.from(value, 'base64').toString('utf8'), ttl: Number(m[1]) } : null;
}

/** Bounded wait until the leader key sits on a lease granted with `ttl` seconds. */
async function waitLeaseTtl(ctx: ScenarioContext, ttl: number): Promise<string> {
  const until = systemClock.now() + 20_000;
  for (;;) {
    const l = await leaderLease(ctx).catch(() => null);
    if (l?.ttl === ttl) {
      ctx.step(`leader key of ${l.leader} is on a lease granted with ttl ${ttl} s`);
      return l.leader;
    }
    if (systemClock.now() > until) throw new Error(`the leader key did not move to a lease with ttl ${ttl} s within 20 s (last: ${JSON.stringify(l)})`);
    await ctx.sleep(200);
  }
}

async function partitionPrimaryFromEtcd(ctx: ScenarioContext, ttl: number, holder: string): Promise<string | undefined> {
  const net = ctx.net;
  if (!net) throw new Error('this scenario needs a cluster with netns: true');
  const primary: LocalNode = ctx.cluster.node(holder);
  return holdFault(ctx, {
    what: `partition ${primary.name} from etcd (iptables DROP) with ttl ${ttl} s`,
    inject: () => net.partition(primary.name, 'etcd'),
    heal: () => net.heal(primary.name),
    healedWhat: `healed ${primary.name}`,
    during: async () => {
      const p = (await ctx.waitNewPrimary(primary.name, 4 * ttl * 1000 + 20_000)).name;
      ctx.step(`new primary ${p}`);
      return p;
    },
    holdMs: 2000,
  });
}

/** Run `work`, then set ttl back to the default whatever happened. */
async function thenRestoreTtl<T>(ctx: ScenarioContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    await editTtl(ctx, DEFAULT_TTL_S).catch((err: unknown) => ctx.step(`could not set ttl back: ${String(err)}`));
  }
}

export const ttlRaisedPartitionEtcd: Scenario = {
  name: 'ttl-raised-partition-etcd',
  description: 'ctl edit-config raises ttl 3 → 10 s at runtime; the primary is then cut off from etcd: it must stop writing before etcd expires its key',
  netns: true,
  run: (ctx) => thenRestoreTtl(ctx, async () => {
    await editTtl(ctx, 10);
    const next = await partitionPrimaryFromEtcd(ctx, 10, await waitLeaseTtl(ctx, 10));
    return { notes: [`ttl 10 s: new primary ${next ?? 'none'}`] };
  }),
};

export const ttlLoweredPartitionEtcd: Scenario = {
  name: 'ttl-lowered-partition-etcd',
  description: 'ctl edit-config raises ttl to 10 s, then lowers it back to 3 s at runtime; the primary is then cut off from etcd: it must stop writing before etcd expires its key',
  netns: true,
  run: (ctx) => thenRestoreTtl(ctx, async () => {
    await editTtl(ctx, 10);
    await waitLeaseTtl(ctx, 10);
    await editTtl(ctx, 3);
    const next = await partitionPrimaryFromEtcd(ctx, 3, await waitLeaseTtl(ctx, 3));
    return { notes: [`ttl 3 s after 10 s: new primary ${next ?? 'none'}`] };
  }),
};
