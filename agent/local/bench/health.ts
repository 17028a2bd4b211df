// `npm run bench:health`: load ONE agent's REST API (the primary's, the one HAProxy's read-write
// check depends on) with wrk, the standard HTTP load tool, while its HA loop runs for real in a
// 3-node cluster. Two workloads, one after the other:
//   OPTIONS /primary         what HAProxy's read-write check sends (status line only)
//   GET /replica?lag=1MB     a lag-bounded check with the status document as body (503 here: the
//                            primary is not a replica; same serialized body as a 200 on a replica)
// Each workload runs twice (see RunKind): paced at about 12,000 req/s, where the target is judged,
// and saturated, for the ceiling. Each run gets a 3 s warm-up (discarded). Prints requests/s and
// latency percentiles from wrk, and the agent's CPU % and RSS under load.
// wrk and the agent share this machine's cores: figures are a floor for a dedicated client.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '../cluster.js';
import { log, printSummary, round, runProgram, sampleResources } from './stats.js';

export interface HealthBenchOptions {
  /** Seconds of load per workload (wrk -d). Default 15. */
  readonly seconds: number;
  /** wrk -t, and -c of the saturation run. Default 2 threads, 32 connections. */
  readonly threads?: number;
  readonly connections?: number;
  /** Offered load of the paced run, req/s. Default 12000 (wrk reaches a little less than it offers). */
  readonly rate?: number;
  /** wrk binary. Default "wrk" from PATH (Debian package wrk; deploy/install-deps.sh installs it). */
  readonly wrkBin?: string;
}

export interface WrkResult {
  readonly requests: number;
  readonly requestsPerSec: number;
  /** Latency percentiles in ms (wrk --latency). */
  readonly p50Ms: number;
  readonly p75Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** "Non-2xx or 3xx responses" (0 when wrk prints no such line). */
  readonly non2xx: number;
  /** connect + read + write + timeout socket errors. */
  readonly socketErrors: number;
}


const UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "812.00us", "1.23ms", "2.00s" → ms. */
export function wrkDurationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: unexpected duration ${JSON.stringify(text)}`);
  // Rounded to the microsecond (wrk's resolution): 238.00us is 0.238 ms, not 0.23800000000000002.
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]! * 1000) / 1000;
}

/** The figures of `wrk --latency` output. Throws when a figure is missing. */
export function parseWrk(out: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk: no ${what} in its output:\n${out}`);
    return m;
  };
  const pct = (p: number) => wrkDurationMs(need(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm'), `${p}% latency`)[1]!);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: Number(need(/(\d+) requests in /, 'request count')[1]),
    requestsPerSec: Number(need(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')[1]),
    p50Ms: pct(50),
    p75Ms: pct(75),
    p90Ms: pct(90),
    p99Ms: pct(99),
    maxMs: wrkDurationMs(need(/^\s+Latency\s+\S+\s+\S+\s+(\S+)/m, 'max latency')[1]!),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0,
  };
}


/** What the agent's own /metrics says about its event loop and GC (prom-client default metrics). */
interface LoopStats {
  /** Event-loop delay p99 and max since the previous scrape (prom-client resets the histogram). */
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  /** Total GC time so far, seconds (all kinds). */
  readonly gcSeconds: number;
}

async function loopStats(apiUrl: string): Promise<LoopStats> {
  const res = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const gauge = (name: string): number => {
    const m = new RegExp(`^pgwarden_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  let gc = 0;
  for (const m of text.matchAll(/^pgwarden_nodejs_gc_duration_seconds_sum(?:\{[^}]*\})? (\S+)$/gm)) gc += Number(m[1]);
  return { lagP99Ms: gauge('nodejs_eventloop_lag_p99_seconds') * 1000, lagMaxMs: gauge('nodejs_eventloop_lag_max_seconds') * 1000, gcSeconds: gc };
}

interface Workload {
  readonly key: string;
  readonly method: 'OPTIONS' | 'GET';
  readonly path: string;
}

const WORKLOADS: readonly Workload[] = [
  { key: 'options_primary', method: 'OPTIONS', path: '/primary' },
  { key: 'get_replica_lag', method: 'GET', path: '/replica?lag=1MB' },
];

/**
 * Two kinds of run per workload:
 *   paced       each connection waits PACE_MS between its requests (wrk's Lua delay()), so the
 *               offered load is about `rate` req/s: the latency an agent gives at the target load.
 *               This is the run the target (≥ 10,000 req/s with p99 ≤ 2 ms) is judged on.
 *   saturation  wrk's closed loop with `connections` connections: the agent's ceiling. Its
 *               latency is mostly queueing behind the other connections' requests.
 */
type RunKind = 'paced' | 'saturation';
const PACE_MS = 2;
/** Per-request time a paced connection spends besides its pause (round trip), for sizing. */
const PACED_ROUND_TRIP_MS = 0.3;

/** Connections that, each pausing PACE_MS between requests, offer about `rate` req/s. */
export function pacedConnections(rate: number): number {
  return Math.max(1, Math.ceil((rate * (PACE_MS + PACED_ROUND_TRIP_MS)) / 1000));
}

/** The wrk Lua script for a workload and run kind (null: none needed). */
export function wrkScript(method: Workload['method'], kind: RunKind): string | null {
  const lines = [
    ...(method !== 'GET' ? [`wrk.method = "${method}"`] : []),
    ...(kind === 'paced' ? [`function delay() return ${PACE_MS} end`] : []),
  ];
  return lines.length > 0 ? `${lines.join('\n')}\n` : null;
}

export async function benchHealth(opts: HealthBenchOptions): Promise<number> {
  const wrk = opts.wrkBin ?? 'wrk';
  const threads = opts.threads ?? 2;
  const connections = opts.connections ?? 32;
  const rate = opts.rate ?? 12_000;
  const seconds = Math.max(3, Math.round(opts.seconds));
  const probe = spawnSync(wrk, ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    process.stderr.write(`bench health: cannot run ${wrk} (${probe.error.message}); install it: apt-get install wrk (deploy/install-deps.sh does)\n`);
    return 1;
  }
  const scriptDir = mkdtempSync(join(tmpdir(), 'pgwarden-wrk-'));
  const cluster = new LocalCluster({ agents: 3, scope: 'benchhealth', agentLogLevel: 'info', haproxy: false });
  try {
    log(`starting a 3-node cluster in ${cluster.runDir}`);
    await cluster.start();
    const { primary } = await cluster.waitUntilReady({ timeoutMs: 180_000 });
    const pid = cluster.agentPid(primary);
    if (pid === null) throw new Error(`agent ${primary.name} is not running`);
    const idle = await sampleResources([pid], 3000);
    log(`target: agent ${primary.name} (primary, pid ${pid}) at ${primary.apiUrl}; idle CPU ${round(idle.cpuPct[0]!, 1)} %, RSS ${round(idle.rssMiB[0]!, 1)} MiB`);

    const measure = async (w: Workload, kind: RunKind, expected: number): Promise<Record<string, unknown>> => {
      const conns = kind === 'paced' ? pacedConnections(rate) : connections;
      const args = [`-t${Math.min(threads, conns)}`, `-c${conns}`, `-d${seconds}s`, '--latency', '--timeout', '2s'];
      const script = wrkScript(w.method, kind);
      if (script !== null) {
        const file = join(scriptDir, `${w.key}-${kind}.lua`);
        writeFileSync(file, script);
        args.push('-s', file);
      }
      args.push(`${primary.apiUrl}${w.path}`);
      // 3 s warm-up, discarded (JIT, connection set-up), then the measured run.
      await runProgram(wrk, [...args.slice(0, 2), '-d3s', ...args.slice(3)], process.env, 60_000);
      log(`${w.method} ${w.path} (answers ${expected}), ${kind}${kind === 'paced' ? ` at about ${rate} req/s` : ''}: wrk ${args.join(' ')}`);
      const loopBefore = await loopStats(primary.apiUrl); // also resets the event-loop histogram
      const load1 = loadavg()[0]!;
      const running = runProgram(wrk, args, process.env, (seconds + 30) * 1000);
      running.catch(() => undefined); // awaited below; no unhandled rejection while sampling
      // Sample the agent over the middle of the run (skip the first and last second).
      await new Promise((r) => setTimeout(r, 1000));
      const res = await sampleResources([pid], (seconds - 2) * 1000);
      const out = await running;
      const loopAfter = await loopStats(primary.apiUrl);
      const gcPct = ((loopAfter.gcSeconds - loopBefore.gcSeconds) / seconds) * 100;
      const r = parseWrk(out);
      const cpu = round(res.cpuPct[0]!, 1);
      const rss = round(res.rssMiB[0]!, 1);
      log(`  ${Math.round(r.requestsPerSec)} req/s; latency p50 ${round(r.p50Ms, 3)} ms, p99 ${round(r.p99Ms, 3)} ms, max ${round(r.maxMs, 3)} ms; ` +
        `non-2xx ${r.non2xx}/${r.requests}, socket errors ${r.socketErrors}; agent CPU ${cpu} %, RSS ${rss} MiB`);
      log(`  agent event-loop delay p99 ${round(loopAfter.lagP99Ms, 2)} ms, max ${round(loopAfter.lagMaxMs, 2)} ms; ` +
        `GC ${round(gcPct, 1)} % of the time; machine load average (1 min) ${round(load1, 2)} at the start`);
      return {
        connections: conns, req_per_s: Math.round(r.requestsPerSec), requests: r.requests,
        p50_ms: round(r.p50Ms, 3), p90_ms: round(r.p90Ms, 3), p99_ms: round(r.p99Ms, 3), max_ms: round(r.maxMs, 3),
        non_2xx: r.non2xx, socket_errors: r.socketErrors, agent_cpu_pct: cpu, agent_rss_mib: rss,
        agent_loop_delay_p99_ms: round(loopAfter.lagP99Ms, 2), agent_loop_delay_max_ms: round(loopAfter.lagMaxMs, 2),
        agent_gc_pct: round(gcPct, 1), loadavg_1m: round(load1, 2),
      };
    };

    const figures: Record<string, unknown> = {};
    let failed = false;
    let targetMet = true;
    for (const w of WORKLOADS) {
      const expected = (await cluster.api(primary, w.path, { method: w.method, auth: false })).status;
      const paced = await measure(w, 'paced', expected);
      const met = (paced['req_per_s'] as number) >= 10_000 && (paced['p99_ms'] as number) <= 2;
      log(`  target ≥ 10000 req/s with p99 ≤ 2 ms (paced run): ${met ? 'met' : 'NOT met'}`);
      const saturation = await measure(w, 'saturation', expected);
      targetMet &&= met;
      if ((paced['socket_errors'] as number) > 0 || (saturation['socket_errors'] as number) > 0) failed = true;
      figures[w.key] = { method: w.method, path: w.path, status: expected, target_met: met, paced, saturation };
    }

    // The HA loop kept up under load: still the leader, still live.
    const st = await cluster.apiStatus(primary);
    const live = await cluster.api(primary, '/liveness', { auth: false });
    const keptLeader = st.role === 'primary' && live.status === 200;
    log(`after the load: ${primary.name} role ${st.role}, /liveness ${live.status}`);
    printSummary('health', {
      node: primary.name, threads, connections, rate, seconds,
      idle_agent_cpu_pct: round(idle.cpuPct[0]!, 1), idle_agent_rss_mib: round(idle.rssMiB[0]!, 1),
      ...figures,
      kept_leader: keptLeader, target_met: targetMet,
    });
    return failed || !keptLeader ? 1 : 0;
  } finally {
    await cluster.stop();
    rmSync(scriptDir, { recursive: true, force: true });
  }
}
