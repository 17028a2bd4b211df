// `npm run bench:routing`: how fast HAProxy's read-write port follows a new primary. N times:
// kill the primary's node (agent + PostgreSQL, SIGKILL), then measure from the new primary's
// promotion to the first write through the read-write port that lands on it. Writes are
// attempted every 20 ms (each on a fresh connection, several may be in flight), so the figure's
// resolution is ~20 ms. Promotion time is the new primary's agent log line 'promoted PostgreSQL
// to primary'; its /status (polled every 10 ms) turning primary is printed alongside, since
// HAProxy's OPTIONS /primary answers 200 only from that moment. The killed node is started again
// and rejoins before the next run.
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { LocalCluster, type LocalNode } from '../cluster.js';
import { endQuietly, sql } from '../sql.js';
import { log, printSummary, round, spread } from './stats.js';

export interface RoutingBenchOptions {
  readonly runs: number;
}

interface RunResult {
  readonly victim: string;
  readonly newPrimary: string;
  /** kill → promotion (log line). */
  readonly killToPromoteMs: number;
  /** promotion (log line) → first write on the new primary through the read-write port. */
  readonly routingMs: number;
  /** promotion (log line) → its /status reports primary (10 ms polls): when health answers follow. */
  readonly promoteToStatusMs: number | null;
  /** /status reports primary → that write (HAProxy's check interval + one connection). */
  readonly statusToWriteMs: number | null;
  /** Write attempts through the read-write port between the kill and that write that failed. */
  readonly failedWrites: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TABLE = 'pgwarden_bench_routing';

/** Epoch ms of the first 'promoted PostgreSQL to primary' line at or after `since`, or null. */
function promotedAt(node: LocalNode, since: number): number | null {
  let text: string;
  try {
    text = readFileSync(node.logFile, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('promoted PostgreSQL to primary')) continue;
    try {
      const t = (JSON.parse(line) as { time?: number }).time;
      if (typeof t === 'number' && t >= since) return t;
    } catch {
      // not a JSON line
    }
  }
  return null;
}

/** One INSERT on a fresh connection through `connString`; resolves the port that took it. */
async function writeOnce(connString: string): Promise<number> {
  const client = new pg.Client({
    connectionString: connString, connectionTimeoutMillis: 1000, query_timeout: 1000, statement_timeout: 1000,
    application_name: 'pgwarden-bench-routing',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const res = await client.query<{ port: number }>(`INSERT INTO ${TABLE} DEFAULT VALUES RETURNING inet_server_port() AS port`);
    return res.rows[0]!.port;
  } finally {
    await endQuietly(client, 500);
  }
}

async function oneRun(cluster: LocalCluster, victim: LocalNode): Promise<RunResult> {
  const candidates = cluster.nodes.filter((n) => n.name !== victim.name);
  const killAt = Date.now();
  await cluster.killNode(victim);
  const deadline = killAt + 60_000;
  let statusPrimary: { node: LocalNode; at: number } | null = null;
  const writes: { port: number; at: number }[] = [];
  let failedWrites = 0;
  let done = false;

  // /status of every candidate every 10 ms (each poll bounded; a slow answer does not delay the next).
  const statusPoll = (async () => {
    while (!done && statusPrimary === null && Date.now() < deadline) {
      for (const n of candidates) {
        cluster.apiStatus(n, 500).then((s) => {
          if (statusPrimary === null && s.role === 'primary' && s.state === 'running') statusPrimary = { node: n, at: Date.now() };
        }, () => undefined);
      }
      await sleep(10);
    }
  })();

  // A write every 20 ms, at most 16 in flight.
  const inFlight = new Set<Promise<void>>();
  const target = (): LocalNode | null => statusPrimary?.node ?? null;
  while (Date.now() < deadline) {
    const t = target();
    if (t && writes.some((w) => w.port === t.pgPort)) break;
    if (inFlight.size < 16) {
      const p: Promise<void> = writeOnce(cluster.rwConnString()).then(
        (port) => { writes.push({ port, at: Date.now() }); },
        () => { failedWrites++; },
      ).finally(() => { inFlight.delete(p); });
      inFlight.add(p);
    }
    await sleep(20);
  }
  done = true;
  await Promise.all([statusPoll, ...inFlight]);

  const next = target();
  if (!next) throw new Error(`no candidate reported primary within 60 s of killing ${victim.name}`);
  const firstWrite = writes.filter((w) => w.port === next.pgPort).sort((a, b) => a.at - b.at)[0];
  if (!firstWrite) throw new Error(`no write reached ${next.name} through the read-write port within 60 s`);
  const promoted = await cluster.waitFor(() => promotedAt(next, killAt), {
    timeoutMs: 5000, what: `'promoted PostgreSQL to primary' in ${next.logFile}`, until: (t) => t !== null,
  });
  const statusAt = statusPrimary === null ? null : (statusPrimary as { at: number }).at;
  return {
    victim: victim.name,
    newPrimary: next.name,
    killToPromoteMs: promoted! - killAt,
    routingMs: firstWrite.at - promoted!,
    promoteToStatusMs: statusAt === null ? null : statusAt - promoted!,
    statusToWriteMs: statusAt === null ? null : firstWrite.at - statusAt,
    failedWrites,
  };
}

export async function benchRouting(opts: RoutingBenchOptions): Promise<number> {
  const cluster = new LocalCluster({ agents: 3, scope: 'benchrt', agentLogLevel: 'info' });
  const results: RunResult[] = [];
  try {
    log(`starting a 3-node cluster in ${cluster.runDir}`);
    await cluster.start();
    await cluster.waitUntilReady({ timeoutMs: 180_000 });
    await sql(cluster.rwConnString(), `CREATE TABLE IF NOT EXISTS ${TABLE} (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    for (let i = 0; i < opts.runs; i++) {
      const { primary: victim } = await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
      await sleep(1000);
      const r = await oneRun(cluster, victim);
      results.push(r);
      log(`run ${i + 1}/${opts.runs}: ${r.victim} killed → ${r.newPrimary} promoted after ${r.killToPromoteMs} ms; ` +
        `promotion → first write through HAProxy ${r.routingMs} ms (promotion → /status primary ${r.promoteToStatusMs ?? '?'} ms, ` +
        `then → write ${r.statusToWriteMs ?? '?'} ms); ` +
        `${r.failedWrites} failed write attempts`);
      cluster.startAgent(victim);
    }
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
    const routing = spread(results.map((r) => r.routingMs));
    const toStatus = spread(results.flatMap((r) => (r.promoteToStatusMs === null ? [] : [r.promoteToStatusMs])));
    const fromStatus = spread(results.flatMap((r) => (r.statusToWriteMs === null ? [] : [r.statusToWriteMs])));
    const detect = spread(results.map((r) => r.killToPromoteMs));
    log(`promotion → writes on the new primary through HAProxy, ms: median ${round(routing.median, 0)} min ${routing.min} max ${routing.max} (n=${routing.n}); target median ≤ 1000`);
    log(`  of which promotion → /status primary, ms: median ${round(toStatus.median, 0)} min ${toStatus.min} max ${toStatus.max}`);
    log(`  and /status primary → writes, ms: median ${round(fromStatus.median, 0)} min ${fromStatus.min} max ${fromStatus.max}`);
    log(`kill → promotion, ms: median ${round(detect.median, 0)} min ${detect.min} max ${detect.max}`);
    printSummary('routing', {
      promotion_to_rw_write_ms: { median: round(routing.median, 0), min: routing.min, max: routing.max, n: routing.n },
      promotion_to_status_primary_ms: { median: round(toStatus.median, 0), min: toStatus.min, max: toStatus.max, n: toStatus.n },
      status_primary_to_rw_write_ms: { median: round(fromStatus.median, 0), min: fromStatus.min, max: fromStatus.max, n: fromStatus.n },
      kill_to_promotion_ms: { median: round(detect.median, 0), min: detect.min, max: detect.max, n: detect.n },
      write_interval_ms: 20,
    });
    return 0;
  } finally {
    await cluster.stop();
  }
}
