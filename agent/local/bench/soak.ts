// `npm run bench:soak`: pgbench through HAProxy for a while (default 10 min) with the default
// timings, counting leader changes (any is a false failover) and the agents' CPU and RSS.
import { join } from 'node:path';
import { LocalCluster } from '../cluster.js';
import { log, printSummary, round, runProgram, sampleResources } from './stats.js';

export interface SoakBenchOptions {
  readonly seconds: number;
}


export async function benchSoak(opts: SoakBenchOptions): Promise<number> {
  const cluster = new LocalCluster({ agents: 3, scope: 'benchsoak', agentLogLevel: 'info' });
  try {
    log(`starting a 3-node cluster in ${cluster.runDir}`);
    await cluster.start();
    const { primary } = await cluster.waitUntilReady({ timeoutMs: 180_000 });
    const bin = join('/usr/lib/postgresql/15/bin', 'pgbench');
    const url = new URL(cluster.rwConnString());
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password) };
    const conn = ['-h', url.hostname, '-p', url.port, '-U', decodeURIComponent(url.username), url.pathname.slice(1) || 'postgres'];
    await runProgram(bin, ['-i', '-s', '10', '-q', ...conn], env, 300_000);
    const leaders = new Set<string>([primary.name]);
    let changes = 0;
    let current = primary.name;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const st = await cluster.statuses(800);
        const p = Object.entries(st).find(([, s]) => s.role === 'primary' && s.state === 'running')?.[0];
        if (p && p !== current) {
          changes++;
          log(`LEADER CHANGE: ${current} → ${p}`);
          current = p;
          leaders.add(p);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    log(`pgbench -c 4 -j 2 -T ${opts.seconds} through HAProxy`);
    const pids = cluster.nodes.map((n) => cluster.agentPid(n)!);
    const load = sampleResources(pids, Math.min(60_000, opts.seconds * 500));
    const out = await runProgram(bin, ['-c', '4', '-j', '2', '-T', String(opts.seconds), '-P', '60', ...conn], env, (opts.seconds + 120) * 1000);
    polling = false;
    await poller;
    const usage = await load;
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
    const history = await cluster.api(primary, '/history').catch(() => ({ status: 0, body: [] }));
    const historyRows = Array.isArray(history.body) ? history.body.length : -1;
    log(`pgbench: ${tps} tps; leader changes: ${changes}; history rows: ${historyRows}`);
    printSummary('soak', {
      seconds: opts.seconds,
      leader_changes: changes,
      history_rows: historyRows,
      tps: round(tps, 1),
      agent_cpu_pct_under_load: round(Math.max(...usage.cpuPct), 2),
      agent_rss_mib_under_load: round(Math.max(...usage.rssMiB), 1),
    });
    return changes === 0 ? 0 : 1;
  } finally {
    await cluster.stop();
  }
}
