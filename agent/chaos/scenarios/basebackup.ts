// A replica killed while it copies a base backup: it must come back (rebuild) and stream, and the
// primary must not notice. The copy is slowed with a tbf rate limit on the replica's link so the
// kill lands during pg_basebackup (needs netns: true).
import { readFileSync, rmSync } from 'node:fs';
import { readEnvVar, snapshotProcesses } from '../../local/procfs.js';
import { NODE_ENV_MARKER } from '../../local/supervisor.js';
import { sql } from '../../local/sql.js';
import type { Scenario } from './types.js';

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

export const killDuringBasebackup: Scenario = {
  name: 'kill-replica-basebackup',
  description: 'wipe a replica, restart it with its link rate-limited, SIGKILL the node while pg_basebackup runs, then restart it',
  netns: true,
  async run(ctx) {
    const net = ctx.net;
    if (!net) throw new Error('this scenario needs a cluster with netns: true');
    const victim = ctx.replicas[0]!;
    ctx.step('create ~48 MB of filler data so the base backup takes a while');
    await sql(ctx.cluster.rwConnString(), "CREATE TABLE IF NOT EXISTS pgwarden_chaos_filler AS SELECT g AS id, repeat('x', 1000) AS pad FROM generate_series(1, 40000) g", [], { timeoutMs: 60_000 });
    ctx.step(`stop ${victim.name} and wipe its data directory`);
    await ctx.cluster.stopAgent(victim);
    if (ctx.cluster.postmasterPid(victim) !== null) await ctx.cluster.killPostgres(victim);
    rmSync(victim.dataDir, { recursive: true, force: true });
    net.rateLimit(victim.name, '16mbit');
    let hit = false;
    try {
      ctx.cluster.startAgent(victim);
      const until = Date.now() + 60_000;
      while (Date.now() < until && !hit) {
        hit = snapshotProcesses().some((p) => comm(p.pid) === 'pg_basebackup' && readEnvVar(p.pid, NODE_ENV_MARKER) === victim.name);
        if (!hit) await ctx.sleep(50);
      }
      if (!hit) throw new Error(`pg_basebackup of ${victim.name} never seen within 60 s`);
      await ctx.sleep(1000);
      ctx.step(`pg_basebackup of ${victim.name} running: kill the node`);
      ctx.faultInjected();
      await ctx.cluster.killNode(victim);
    } finally {
      net.clearRateLimit(victim.name);
    }
    ctx.step(`restart ${victim.name}`);
    ctx.cluster.startAgent(victim);
    ctx.healed();
    return { notes: [`victim ${victim.name}`] };
  },
};
