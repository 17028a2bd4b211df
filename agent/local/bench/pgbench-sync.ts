// `npm run bench:sync` (`pgwarden bench sync [--seconds N]`): what synchronous replication
// costs. pgbench (TPC-B-like, -c 4 -j 2, -T N s, default 60) through HAProxy's read-write port,
// first in asynchronous mode, then — after switching synchronous_mode on with PATCH /config and
// waiting until the primary's /status reports synchronous_replication.state 'synchronous' with a
// published standby — in synchronous mode. Prints tps and mean latency of both and their ratio;
// ends with one BENCH_SUMMARY line. Figures, not assertions: exit 1 only if a run failed or the
// leader changed during a run (then the comparison means nothing). An unmeasured warm-up run
// comes first and each measured run starts after a CHECKPOINT, so neither mode pays for cold
// caches or the other's dirty buffers; the 1-minute load average is printed with the figures
// (on a shared machine it says how much they are worth).
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, type LocalNode } from '../cluster.js';
import { sql } from '../sql.js';
import { log, printSummary, round, runProgram } from './stats.js';

export interface SyncBenchOptions {
  /** Duration of each pgbench run. Default 60. */
  readonly seconds: number;
  readonly clients?: number;
  readonly jobs?: number;
  /** pgbench -i scale. Default 10. */
  readonly scale?: number;
}

export interface PgbenchResult {
  readonly tps: number;
  readonly latencyMs: number;
  readonly transactions: number;
  readonly failed: number;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Reads pgbench's summary ("tps = …", "latency average = … ms", "… actually processed: …"). */
export function parsePgbench(out: string): PgbenchResult {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  return {
    tps: num(/^tps = ([\d.]+)/m),
    latencyMs: num(/^latency average = ([\d.]+) ms/m),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

async function primaryNow(cluster: LocalCluster): Promise<string | null> {
  const st = await cluster.statuses(1500);
  return Object.entries(st).find(([, s]) => s.role === 'primary' && s.state === 'running')?.[0] ?? null;
}

async function syncState(cluster: LocalCluster, primary: LocalNode): Promise<{ state?: string; standbys?: string[] } | undefined> {
  const st = await cluster.apiStatus(primary, 2000);
  return st.synchronous_replication as { state?: string; standbys?: string[] } | undefined;
}

export async function benchSync(opts: SyncBenchOptions): Promise<number> {
  const seconds = opts.seconds;
  const clients = opts.clients ?? 4;
  const jobs = opts.jobs ?? 2;
  const scale = opts.scale ?? 10;
  const cluster = new LocalCluster({ agents: 3, scope: 'benchsync', agentLogLevel: 'info' });
  try {
    log(`starting a 3-node cluster in ${cluster.runDir}`);
    await cluster.start();
    const { primary } = await cluster.waitUntilReady({ timeoutMs: 180_000 });
    const bin = join(PG_BIN, 'pgbench');
    const url = new URL(cluster.rwConnString());
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password), PGCONNECT_TIMEOUT: '5' };
    const conn = ['-h', url.hostname, '-p', url.port, '-U', decodeURIComponent(url.username), url.pathname.slice(1) || 'postgres'];
    log(`pgbench -i -s ${scale} through HAProxy (127.0.0.1:${url.port})`);
    await runProgram(bin, ['-i', '-s', String(scale), '-q', ...conn], env, 300_000);

    const bench = async (mode: string): Promise<PgbenchResult & { load: number }> => {
      await sql(cluster.rwConnString(), 'CHECKPOINT', [], { timeoutMs: 120_000 });
      const before = await primaryNow(cluster);
      log(`${mode}: pgbench -c ${clients} -j ${jobs} -T ${seconds} (primary ${before})`);
      const out = await runProgram(bin, ['-c', String(clients), '-j', String(jobs), '-T', String(seconds), ...conn], env, (seconds + 120) * 1000);
      const after = await primaryNow(cluster);
      if (before !== after) throw new Error(`the leader changed during the ${mode} run (${before} → ${after}); the figures are meaningless`);
      const r = parsePgbench(out);
      if (!Number.isFinite(r.tps) || !Number.isFinite(r.latencyMs)) throw new Error(`cannot read pgbench's output:\n${out.slice(-1500)}`);
      const load = loadavg()[0]!;
      log(`${mode}: ${round(r.tps, 1)} tps, mean latency ${round(r.latencyMs, 3)} ms, ${r.transactions} transactions, ${r.failed} failed (load average ${round(load, 2)})`);
      return { ...r, load };
    };

    const before = await syncState(cluster, primary);
    if (before && before.state !== 'off') throw new Error(`expected asynchronous replication to start with, /status says ${JSON.stringify(before)}`);
    const warmup = Math.max(5, Math.round(seconds / 4));
    log(`warm-up: pgbench -c ${clients} -j ${jobs} -T ${warmup} (not measured)`);
    await runProgram(bin, ['-c', String(clients), '-j', String(jobs), '-T', String(warmup), ...conn], env, (warmup + 120) * 1000);
    const asyncRun = await bench('asynchronous');

    log('switching synchronous_mode on (PATCH /config)');
    const res = await cluster.api(primary, '/config', { method: 'PATCH', body: { synchronous_mode: true }, timeoutMs: 10_000 });
    if (res.status !== 200) throw new Error(`PATCH /config: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    const sync = await cluster.waitFor(() => syncState(cluster, primary), {
      timeoutMs: 60_000, intervalMs: 200, what: `${primary.name} to report synchronous replication with a published standby`,
      until: (s) => s?.state === 'synchronous' && (s.standbys?.length ?? 0) > 0,
    });
    log(`synchronous: standby ${sync!.standbys!.join(', ')}`);
    const syncRun = await bench('synchronous');

    const tpsRatio = syncRun.tps / asyncRun.tps;
    const latencyRatio = syncRun.latencyMs / asyncRun.latencyMs;
    log(`sync/async: tps ×${round(tpsRatio, 3)}, mean latency ×${round(latencyRatio, 3)}`);
    printSummary('sync', {
      seconds, warmup_seconds: warmup, clients, jobs, scale,
      async: { tps: round(asyncRun.tps, 1), latency_ms: round(asyncRun.latencyMs, 3), transactions: asyncRun.transactions, failed: asyncRun.failed, load_avg: round(asyncRun.load, 2) },
      sync: { tps: round(syncRun.tps, 1), latency_ms: round(syncRun.latencyMs, 3), transactions: syncRun.transactions, failed: syncRun.failed, load_avg: round(syncRun.load, 2) },
      tps_ratio: round(tpsRatio, 3),
      latency_ratio: round(latencyRatio, 3),
    });
    return 0;
  } catch (err) {
    log(`bench sync failed: ${err instanceof Error ? err.message : String(err)} (logs in ${cluster.runDir})`);
    return 1;
  } finally {
    await cluster.stop();
  }
}
