// `ctl restart [member…]`: rolling restart of PostgreSQL. Replicas first, one at a time, each
// waited for until it runs again; then the primary: a switchover to a caught-up replica, then a
// restart of the old primary (now a replica). `--in-place` restarts the primary where it is
// (a short outage) instead. `--pending` restarts only the members reporting pending_restart.
import type { MemberRecord } from '../../core/types.js';
import { confirm } from '../confirm.js';
import {
  expectOk, fetchStatus, fetchStatuses, findMember, readCluster, sendTo, waitUntil, type CtlContext,
} from '../context.js';
import type { ClusterRead } from '../etcd.js';
import { CtlFailure } from '../io.js';
import { lagOf, renderListing } from '../render.js';
import { listing } from './list.js';
import type { CommandRegistrar } from '../command.js';

export interface RestartOptions {
  readonly members: readonly string[];
  readonly pending: boolean;
  readonly inPlace: boolean;
  readonly force: boolean;
  /** Seconds per step (one restart, the switchover, a member coming back). */
  readonly timeout: number;
}

export const restartCommand: CommandRegistrar = (y, runner) => y.command(
  'restart [members..]',
  'rolling restart of PostgreSQL: replicas first, then the primary via a switchover',
  (b) => b
    .positional('members', { type: 'string', array: true, describe: 'members to restart (default: all)' })
    .option('pending', { type: 'boolean', default: false, describe: 'only members whose settings need a restart (pending_restart)' })
    .option('in-place', { type: 'boolean', default: false, describe: 'restart the primary where it is (brief outage) instead of switching over first' })
    .option('force', { type: 'boolean', default: false, describe: 'do not ask for confirmation' })
    .option('timeout', { type: 'number', default: 120, describe: 'seconds allowed for each step' }),
  (argv) => runner.run(argv, (ctx) => runRestart(ctx, {
    members: argv.members ?? [], pending: argv.pending, inPlace: argv['in-place'], force: argv.force, timeout: argv.timeout,
  })),
);

/** Replicas first (in name order), the leader last; the order `ctl restart` works in. */
export function restartOrder(read: ClusterRead, targets: readonly MemberRecord[]): { replicas: MemberRecord[]; primary: MemberRecord | null } {
  const leader = read.view.leader;
  return {
    replicas: targets.filter((m) => m.name !== leader).sort((a, b) => a.name.localeCompare(b.name)),
    primary: targets.find((m) => m.name === leader) ?? null,
  };
}

/**
 * The replica to hand over to before restarting the primary: running, not tagged nofailover,
 * within maximum_lag_on_failover; the least lag wins, then the higher failover_priority.
 */
export function pickHandoverCandidate(read: ClusterRead): MemberRecord | null {
  const maxLag = read.config?.maximum_lag_on_failover ?? 1048576;
  const ok = read.view.members
    .filter((m) => m.name !== read.view.leader && m.role === 'replica' && m.state === 'running' && !m.tags.nofailover && m.tags.failoverPriority > 0)
    .map((m) => ({ m, lag: lagOf(read, m) }))
    .filter((x): x is { m: MemberRecord; lag: number } => x.lag !== null && x.lag <= maxLag)
    .sort((a, b) => a.lag - b.lag || b.m.tags.failoverPriority - a.m.tags.failoverPriority || a.m.name.localeCompare(b.m.name));
  return ok[0]?.m ?? null;
}

export async function runRestart(ctx: CtlContext, o: RestartOptions): Promise<number> {
  const { io } = ctx;
  const stepMs = o.timeout * 1000;
  const read = await readCluster(ctx);
  let targets = o.members.length > 0 ? o.members.map((n) => findMember(read, n)) : [...read.view.members];
  if (o.pending) {
    const statuses = await fetchStatuses(ctx, targets);
    const unknown = targets.filter((m) => statuses.get(m.name) === null).map((m) => m.name);
    if (unknown.length > 0) io.stderr.write(`not answering, skipped: ${unknown.join(', ')}\n`);
    targets = targets.filter((m) => statuses.get(m.name)?.pending_restart === true);
  }
  if (targets.length === 0) {
    io.stdout.write(o.pending ? 'No member has a restart pending.\n' : 'Nothing to restart.\n');
    return 0;
  }
  const { replicas, primary } = restartOrder(read, targets);
  const plan = [
    ...replicas.map((m) => m.name),
    ...(primary ? [o.inPlace ? `${primary.name} (primary, in place)` : `${primary.name} (primary: after a switchover)`] : []),
  ];
  await confirm(io, `Restart PostgreSQL on ${plan.join(', then ')}?`, { force: o.force });

  for (const m of replicas) await restartOne(ctx, m, stepMs);

  if (primary) {
    if (o.inPlace) {
      await restartOne(ctx, primary, stepMs);
    } else {
      const now = await readCluster(ctx);
      const candidate = pickHandoverCandidate(now);
      if (candidate === null) {
        throw new CtlFailure(
          `no caught-up replica to hand over to before restarting ${primary.name}; ` +
          'restart it in place with --in-place (a brief outage), or wait for a replica to catch up',
        );
      }
      io.stdout.write(`${primary.name}: switching over to ${candidate.name} …\n`);
      const res = await sendTo(ctx, primary, 'POST', '/switchover', { body: { leader: primary.name, candidate: candidate.name }, timeoutMs: stepMs });
      io.stdout.write(`${expectOk(res, 'switchover')}\n`);
      await waitUntil(ctx, `${candidate.name} to hold the leader key`, stepMs, async () => {
        const r = await readCluster(ctx);
        if (r.view.leader !== candidate.name) throw new Error(`leader is ${r.view.leader ?? 'nobody'}`);
        return true;
      }, 500);
      await waitForRunning(ctx, primary, 'replica', stepMs);
      const st = await fetchStatus(ctx, primary);
      if (o.pending && st?.pending_restart !== true) {
        io.stdout.write(`${primary.name}: restarted as a replica by the switchover; no restart pending any more\n`);
      } else {
        await restartOne(ctx, primary, stepMs);
      }
    }
  }
  io.stdout.write('Restart done.\n');
  io.stdout.write(renderListing(await listing(ctx)));
  return 0;
}

async function restartOne(ctx: CtlContext, m: MemberRecord, stepMs: number): Promise<void> {
  const before = (await readCluster(ctx)).view.members.find((x) => x.name === m.name) ?? m;
  ctx.io.stdout.write(`${m.name}: restarting PostgreSQL …\n`);
  const res = await sendTo(ctx, before, 'POST', '/restart', { timeoutMs: stepMs });
  const message = expectOk(res, `restart of ${m.name}`);
  await waitForRunning(ctx, before, null, stepMs);
  ctx.io.stdout.write(`${m.name}: ${message}\n`);
}

/** Until the member's /status says running (and the role, when given). */
export async function waitForRunning(ctx: CtlContext, m: MemberRecord, role: string | null, timeoutMs: number): Promise<void> {
  await waitUntil(ctx, `${m.name} to run${role ? ` as ${role}` : ''}`, timeoutMs, async () => {
    const st = await fetchStatus(ctx, m);
    if (!st) throw new Error(`${m.name} did not answer`);
    if (st.state !== 'running' || (role !== null && st.role !== role)) throw new Error(`${m.name} is ${st.role ?? '?'} ${st.state ?? '?'}`);
    return true;
  }, 500);
}

