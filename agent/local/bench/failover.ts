// `npm run bench:failover`: kill the primary's node (agent + postmaster) and, separately, only
// its postmaster, N times each, while a writer inserts every 50 ms through HAProxy. Prints RTO
// (fault → first acknowledged commit after the last failed attempt) and lost acknowledged writes.
import { LocalCluster } from '../cluster.js';
import { Writer } from '../writer.js';
import { recoveryAfter, writerNow } from './rto.js';
import { log, printSummary, round, sampleResources, spread } from './stats.js';

export interface FailoverBenchOptions {
  readonly runs: number;
}

type Fault = 'node_loss' | 'pg_crash';

interface RunResult {
  readonly fault: Fault;
  readonly victim: string;
  readonly newPrimary: string;
  readonly rtoMs: number;
  readonly failedAttempts: number;
}


async function waitRecovered(cluster: LocalCluster, writer: Writer, faultAt: number): Promise<number> {
  // Recovered: an ack after the last failure, and 2 s of writes without a new failure since.
  const r = await cluster.waitFor(async () => {
    const rec = recoveryAfter(faultAt, writer.acked, writer.failed);
    const lastFail = writer.failed.length ? writer.failed[writer.failed.length - 1]!.at : 0;
    return { rec, quietMs: writerNow() - Math.max(lastFail, faultAt) };
  }, { timeoutMs: 90_000, intervalMs: 100, what: 'writes through HAProxy to resume', until: (x) => x.rec.rtoMs !== null && x.quietMs > 2000 });
  return r.rec.rtoMs!;
}

export async function benchFailover(opts: FailoverBenchOptions): Promise<number> {
  const cluster = new LocalCluster({ agents: 3, scope: 'benchfo', agentLogLevel: 'info' });
  const results: RunResult[] = [];
  let writer: Writer | null = null;
  try {
    log(`starting a 3-node cluster in ${cluster.runDir}`);
    await cluster.start();
    await cluster.waitUntilReady({ timeoutMs: 180_000 });
    const idle = await sampleResources(cluster.nodes.map((n) => cluster.agentPid(n)!), 10_000);
    log(`idle agents: RSS ${idle.rssMiB.map((x) => round(x, 1)).join('/')} MiB, CPU ${idle.cpuPct.map((x) => round(x, 2)).join('/')} %`);

    writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50, connectTimeoutMs: 1000, statementTimeoutMs: 2000 }).start();
    await writer.waitForAcks(20, 30_000);

    const plan: Fault[] = [];
    for (let i = 0; i < opts.runs; i++) plan.push('node_loss', 'pg_crash');
    for (const [i, fault] of plan.entries()) {
      const victim = await cluster.waitForPrimary({ timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 1500));
      const faultAt = writerNow();
      if (fault === 'node_loss') await cluster.killNode(victim);
      else await cluster.killPostgres(victim, { postmasterOnly: true });
      const rtoMs = await waitRecovered(cluster, writer, faultAt);
      const newPrimary = (await cluster.waitForPrimary({ timeoutMs: 60_000 })).name;
      const failedAttempts = recoveryAfter(faultAt, writer.acked, writer.failed).failures;
      results.push({ fault, victim: victim.name, newPrimary, rtoMs, failedAttempts });
      log(`run ${i + 1}/${plan.length} ${fault}: victim ${victim.name} → primary ${newPrimary}, RTO ${round(rtoMs / 1000)} s, ${failedAttempts} failed attempts`);
      if (fault === 'node_loss') {
        cluster.startAgent(victim);
        await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
      }
    }
    const report = await writer.stop();
    const verify = await writer.verify(cluster.rwConnString(), 15_000);
    writer = null;
    const node = spread(results.filter((r) => r.fault === 'node_loss').map((r) => r.rtoMs / 1000));
    const crash = spread(results.filter((r) => r.fault === 'pg_crash').map((r) => r.rtoMs / 1000));
    const falseFailovers = results.filter((r) => r.fault === 'pg_crash' && r.newPrimary !== r.victim).length;
    log(`node loss RTO s: median ${round(node.median)} min ${round(node.min)} max ${round(node.max)} (n=${node.n})`);
    log(`PostgreSQL crash RTO s: median ${round(crash.median)} min ${round(crash.min)} max ${round(crash.max)} (n=${crash.n}); failovers caused: ${falseFailovers}`);
    log(`writes: ${report.acked} acknowledged, ${verify.lost.length} lost, ${report.failed} failed attempts`);
    printSummary('failover', {
      node_loss_rto_s: { median: round(node.median), min: round(node.min), max: round(node.max), n: node.n },
      pg_crash_rto_s: { median: round(crash.median), min: round(crash.min), max: round(crash.max), n: crash.n },
      pg_crash_failovers: falseFailovers,
      acked_writes: report.acked,
      lost_acked_writes: verify.lost.length,
      idle_agent_rss_mib: round(Math.max(...idle.rssMiB), 1),
      idle_agent_cpu_pct: round(Math.max(...idle.cpuPct), 2),
    });
    return verify.lost.length === 0 ? 0 : 1;
  } finally {
    if (writer) await writer.stop().catch(() => undefined);
    await cluster.stop();
  }
}
