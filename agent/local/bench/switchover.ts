// `npm run bench:switchover`: N planned switchovers (POST /switchover to the leader, rotating
// the candidate) while a writer inserts every 50 ms through HAProxy. Prints the write gap (last
// acknowledged commit before → first after) and lost acknowledged writes.
import { LocalCluster } from '../cluster.js';
import { Writer, writerNow } from '../writer.js';
import { log, printSummary, round, spread } from './stats.js';


export async function benchSwitchover(opts: { runs: number }): Promise<number> {
  const cluster = new LocalCluster({ agents: 3, scope: 'benchsw', agentLogLevel: 'info' });
  let writer: Writer | null = null;
  const gaps: number[] = [];
  try {
    log(`starting a 3-node cluster in ${cluster.runDir}`);
    await cluster.start();
    await cluster.waitUntilReady({ timeoutMs: 180_000 });
    writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50 }).start();
    await writer.waitForAcks(20, 30_000);
    for (let i = 0; i < opts.runs; i++) {
      const leader = await cluster.waitForPrimary({ timeoutMs: 60_000 });
      await cluster.waitUntilReady({ timeoutMs: 60_000, replicas: 2 });
      await new Promise((r) => setTimeout(r, 1000));
      const candidate = cluster.nodes.filter((n) => n.name !== leader.name)[i % 2]!;
      const before = writerNow();
      const res = await cluster.api(leader, '/switchover', { method: 'POST', body: { leader: leader.name, candidate: candidate.name }, timeoutMs: 60_000 });
      if (res.status !== 200) throw new Error(`switchover ${i + 1} failed: ${res.status} ${JSON.stringify(res.body)}`);
      await writer.waitForAcks(20, 30_000);
      // The longest stretch without an acknowledgement around this switchover.
      const gap = writer.gaps(0).filter((g) => g.to >= before && g.from <= before + 10_000).reduce((m, g) => Math.max(m, g.ms), 0);
      gaps.push(gap);
      log(`switchover ${i + 1}/${opts.runs}: ${leader.name} → ${candidate.name}, write gap ${Math.round(gap)} ms`);
    }
    const report = await writer.stop();
    const verify = await writer.verify(cluster.rwConnString(), 15_000);
    writer = null;
    const s = spread(gaps.map((g) => g / 1000));
    log(`write gap s: median ${round(s.median)} min ${round(s.min)} max ${round(s.max)} (n=${s.n}); ${report.acked} acknowledged, ${verify.lost.length} lost`);
    printSummary('switchover', {
      write_gap_s: { median: round(s.median), min: round(s.min), max: round(s.max), n: s.n },
      acked_writes: report.acked,
      lost_acked_writes: verify.lost.length,
    });
    return verify.lost.length === 0 ? 0 : 1;
  } finally {
    if (writer) await writer.stop().catch(() => undefined);
    await cluster.stop();
  }
}
