// Runs chaos scenarios against a LocalCluster (netns: true) and checks the invariants around each:
//   - a Writer inserts every 50 ms through HAProxy and logs every acknowledged commit; after heal,
//     checkLostWrites compares the acknowledged ids with what the surviving primary holds;
//   - a ClusterMonitor probes every node's PostgreSQL directly several times a second:
//     checkSplitBrain (two nodes writable at once) and checkStaleAcks (a probe write acknowledged by
//     a node after another node's promotion);
//   - convergenceTime: from heal until one primary and every other member streaming from it;
//   - RTO: from the fault to the first acknowledged write after the last failed one.
// One cluster serves consecutive repetitions while it stays healthy; after a failed repetition it is
// stopped (run dir kept) and a fresh one is started. Every wait has a deadline.
import { performance } from 'node:perf_hooks';
import { LocalCluster, type LocalNode } from '../local/cluster.js';
import { recoveryAfter } from '../local/bench/rto.js';
import { sql } from '../local/sql.js';
import { Writer, writerNow } from '../local/writer.js';
import { deadline } from '../local/wait.js';
import {
  checkLostWrites, checkSplitBrain, checkStaleAcks, CONVERGENCE_LIMIT_MS, convergenceTime, failureSummary, stateTimeline,
  type ReplicationMode, type SplitBrainWindow, type StaleAck,
} from './invariants.js';
import { ClusterMonitor } from './monitor.js';
import type { ExpectedOverlap, Scenario, ScenarioContext, ScenarioOutcome } from './scenarios/types.js';

export interface ChaosOptions {
  readonly scenarios: readonly Scenario[];
  /** Repetitions of each scenario. Default 1. */
  readonly reps?: number;
  /** Replication mode of the cluster: sync (synchronous_mode: true; no acknowledged write may be lost) or async. Default async. */
  readonly mode?: ReplicationMode;
  /** Keep run directories even when everything passed. */
  readonly keepRuns?: boolean;
  readonly baseDir?: string;
  /** One progress line per step. */
  readonly progress?: (line: string) => void;
  /** Deadline of one scenario's fault+heal. Default 180 s. */
  readonly scenarioTimeoutMs?: number;
  /** Deadline for convergence after heal. Default 90 s. */
  readonly convergeTimeoutMs?: number;
}

export interface WindowReport {
  readonly fromMs: number;
  readonly toMs: number;
  readonly ms: number;
  readonly nodes: string[];
}

export interface RepResult {
  readonly scenario: string;
  readonly rep: number;
  readonly ok: boolean;
  /** Every broken invariant or error, one line each. */
  readonly failures: string[];
  readonly rtoMs: number | null;
  readonly writes: { readonly acked: number; readonly failedAttempts: number; readonly lost: number[]; readonly mode: ReplicationMode };
  /** Windows where two nodes accepted writes, relative to the fault (ms). */
  readonly splitBrain: { readonly unexpected: WindowReport[]; readonly expected: WindowReport[]; readonly expectedWhy?: string };
  readonly staleAcks: { readonly unexpected: number; readonly expected: number; readonly sample: StaleAck[] };
  readonly convergenceMs: number | null;
  readonly probeRounds: number;
  readonly notes: string[];
  readonly runDir: string;
}

export interface ChaosReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly mode: ReplicationMode;
  readonly ok: boolean;
  readonly results: RepResult[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function windowReport(w: SplitBrainWindow, t0: number): WindowReport {
  return { fromMs: Math.round(w.from - t0), toMs: Math.round(w.to - t0), ms: Math.round(w.to - w.from), nodes: w.nodes };
}

function isExpected(nodes: readonly string[], from: number, to: number, exp: ExpectedOverlap | undefined): boolean {
  return exp !== undefined && nodes.includes(exp.node) && from <= exp.until && to <= exp.until + exp.graceMs;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const startedAt = new Date().toISOString();
  const reps = opts.reps ?? 1;
  const mode = opts.mode ?? 'async';
  const progress = opts.progress ?? (() => undefined);
  const results: RepResult[] = [];
  let cluster: LocalCluster | null = null;
  let clusterRelay = false;
  const clusters: { c: LocalCluster; failed: boolean }[] = [];
  try {
    for (const scenario of opts.scenarios) {
      for (let rep = 1; rep <= reps; rep++) {
        const say = (msg: string) => progress(`${new Date().toISOString().slice(11, 23)} ${scenario.name} #${rep}: ${msg}`);
        const relay = scenario.latencyRelay === true;
        if (cluster && clusterRelay !== relay) {
          say(`this scenario needs a cluster ${relay ? 'with' : 'without'} delay relays: starting a fresh one`);
          await cluster.stop();
          cluster = null;
        }
        if (!cluster) {
          clusterRelay = relay;
          cluster = new LocalCluster({
            agents: 3,
            scope: 'chaos',
            netns: true,
            latencyRelay: relay,
            agentLogLevel: 'debug',
            ...(opts.baseDir ? { baseDir: opts.baseDir } : {}),
            ...(mode === 'sync' ? { dcs: { synchronous_mode: true } } : {}),
          });
          clusters.push({ c: cluster, failed: false });
          say(`starting a 3-node cluster (netns) in ${cluster.runDir}`);
          await cluster.start();
        }
        const r = await runOne(cluster, scenario, rep, mode, say, opts);
        results.push(r);
        say(r.ok ? `ok (RTO ${fmtS(r.rtoMs)}, convergence ${fmtS(r.convergenceMs)})` : `FAILED: ${r.failures.join('; ')}`);
        if (!r.ok) {
          clusters[clusters.length - 1]!.failed = true;
          say(`stopping this cluster (run dir kept: ${cluster.runDir}); the next repetition gets a fresh one`);
          await cluster.stop();
          cluster = null;
        }
      }
    }
  } finally {
    if (cluster) await cluster.stop();
    for (const { c, failed } of clusters) {
      if (c.state !== 'stopped') await c.stop();
      if (!failed && !opts.keepRuns) c.removeRunDir();
      else progress(`run dir kept: ${c.runDir}`);
    }
  }
  return { startedAt, finishedAt: new Date().toISOString(), mode, ok: results.every((r) => r.ok), results };
}

function fmtS(ms: number | null): string {
  return ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`;
}

async function runOne(
  cluster: LocalCluster, scenario: Scenario, rep: number, mode: ReplicationMode, say: (m: string) => void, opts: ChaosOptions,
): Promise<RepResult> {
  const failures: string[] = [];
  const notes: string[] = [];
  let faultAt: number | null = null;
  let healAt: number | null = null;
  let outcome: ScenarioOutcome = {};
  let monitor: ClusterMonitor | null = null;
  let writer: Writer | null = null;
  let rtoMs: number | null = null;
  let convergenceMs: number | null = null;
  let present: number[] | null = null;
  try {
    say('waiting for one primary, two streaming replicas and HAProxy routing');
    const { primary, replicas } = await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
    if (mode === 'sync') {
      // Until the primary publishes a synchronous standby no replica may be promoted (`sync` names
      // nobody): a fault injected before that tests the wait, not the failover.
      say('waiting for a published synchronous standby');
      await cluster.waitFor(() => cluster.apiStatus(primary).then((st) => st.synchronous_replication?.standbys?.length ?? 0),
        { timeoutMs: 30_000, intervalMs: 100, what: 'a published synchronous standby', until: (n) => n > 0 });
    }
    monitor = new ClusterMonitor(cluster);
    await monitor.start();
    writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50, connectTimeoutMs: 1000, statementTimeoutMs: 2000, writerId: `${scenario.name.replace(/[^a-z0-9]/g, '')}${rep}` }).start();
    await writer.waitForAcks(10, 30_000);
    await sleep(1000);
    const ctx: ScenarioContext = {
      cluster,
      net: cluster.net,
      primary,
      replicas,
      ttlMs: 3000,
      step: say,
      faultInjected: () => { faultAt ??= writerNow(); },
      healed: () => { healAt ??= writerNow(); },
      sleep,
      waitNewPrimary: (exclude: string, timeoutMs = 30_000): Promise<LocalNode> => cluster.waitForPrimary({ exclude: [exclude], timeoutMs }),
    };
    outcome = await deadline(scenario.run(ctx), opts.scenarioTimeoutMs ?? 180_000, `scenario ${scenario.name}`);
    notes.push(...(outcome.notes ?? []));
    if (faultAt === null) throw new Error('the scenario never marked its fault');
    healAt ??= writerNow();
    const healedAt: number = healAt;
    const mon = monitor;
    say('healed: waiting for one primary and every other member streaming from it');
    convergenceMs = await cluster.waitFor(() => convergenceTime(mon.states, healedAt), {
      timeoutMs: opts.convergeTimeoutMs ?? 90_000, intervalMs: 250, what: 'convergence (one primary, all others streaming from it)',
      until: (v) => v !== null,
    }).catch((err: unknown) => {
      failures.push(`did not converge: ${(err as Error).message.split('\n')[0]}; last states ${JSON.stringify([...mon.latest().values()])}`);
      return null;
    });
    if (convergenceMs !== null && convergenceMs > CONVERGENCE_LIMIT_MS) {
      failures.push(`converged only ${(convergenceMs / 1000).toFixed(1)} s after heal (limit ${CONVERGENCE_LIMIT_MS / 1000} s)`);
    }
    if (convergenceMs === null || convergenceMs > CONVERGENCE_LIMIT_MS / 3) {
      notes.push(`after heal: ${stateTimeline(mon.states, healedAt, healedAt + (convergenceMs ?? Infinity)).join('; ')}`);
    }
    const w = writer;
    const fa: number = faultAt;
    say('waiting for writes through HAProxy to flow again');
    const rec = await cluster.waitFor(() => {
      const r = recoveryAfter(fa, w.acked, w.failed);
      const lastFail = w.failed.length ? w.failed[w.failed.length - 1]!.at : 0;
      return { r, quietMs: writerNow() - Math.max(lastFail, fa) };
    }, { timeoutMs: 60_000, intervalMs: 100, what: 'writes through HAProxy to resume', until: (x) => x.r.rtoMs !== null && x.quietMs > 1000 })
      .catch((err: unknown) => {
        failures.push(`writes did not resume: ${(err as Error).message.split('\n')[0]}`);
        return null;
      });
    rtoMs = rec ? Math.round(rec.r.rtoMs!) : null;
    await writer.stop();
    await monitor.stop();
    const wid = writer.writerId;
    present = await cluster.waitFor(
      () => sql<{ id: string }>(cluster.rwConnString(), 'SELECT id FROM pgwarden_writes WHERE writer = $1', [wid], { timeoutMs: 5000 }).then((rows) => rows.map((r) => Number(r.id))),
      { timeoutMs: 30_000, intervalMs: 500, what: 'reading the written ids back through HAProxy' },
    );
  } catch (err) {
    failures.push(`error: ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`);
  } finally {
    await writer?.stop().catch(() => undefined);
    await monitor?.stop().catch(() => undefined);
  }

  const t0 = faultAt ?? 0;
  const acks = (writer?.acked ?? []).map((a) => ({ id: a.id, at: a.ackedAt }));
  const lost = present ? checkLostWrites(acks, present, mode) : null;
  if (lost && !lost.ok) failures.push(`${lost.lost.length} acknowledged writes lost in sync mode: ${lost.lost.slice(0, 10).join(', ')}`);
  if (lost && lost.lost.length > 0 && mode === 'async') notes.push(`async: ${lost.lost.length} acknowledged writes lost`);

  const exp = outcome.expectedOverlap;
  const sb = monitor ? checkSplitBrain(monitor.writeSamples) : { windows: [], ok: true };
  const expectedW = sb.windows.filter((w) => isExpected(w.nodes, w.from, w.to, exp));
  const unexpectedW = sb.windows.filter((w) => !isExpected(w.nodes, w.from, w.to, exp));
  for (const w of unexpectedW) failures.push(`split brain: ${w.nodes.join('+')} writable together for ${Math.round(w.to - w.from)} ms at fault+${Math.round(w.from - t0)} ms`);

  const stale = monitor ? checkStaleAcks(monitor.probeAcks, monitor.promotions) : { stale: [], ok: true };
  const expectedS = stale.stale.filter((s) => isExpected([s.node], s.at, s.at, exp));
  const unexpectedS = stale.stale.filter((s) => !isExpected([s.node], s.at, s.at, exp));
  if (unexpectedS.length > 0) {
    const s = unexpectedS[0]!;
    failures.push(`${unexpectedS.length} probe writes acknowledged by a demoted node (first: ${s.node} at fault+${Math.round(s.at - t0)} ms, after ${s.promoted} was promoted at fault+${Math.round(s.promotedAt - t0)} ms)`);
  }
  if (monitor && monitor.rounds < 5) failures.push(`the split-brain probe ran only ${monitor.rounds} rounds`);
  const why = failureSummary(writer?.failed ?? []);
  if (why !== null) notes.push(`failed writes: ${why}`);
  if (exp && expectedW.length > 0) {
    const extra = Math.max(...expectedW.map((w) => w.to - exp.until));
    notes.push(`expected overlap (${exp.node} frozen): ${Math.round(Math.max(...expectedW.map((w) => w.to - w.from)))} ms, ${extra > 0 ? `${Math.round(extra)} ms past resume` : 'ended before resume'}`);
  }
  return {
    scenario: scenario.name,
    rep,
    ok: failures.length === 0,
    failures,
    rtoMs,
    writes: { acked: acks.length, failedAttempts: writer?.failed.length ?? 0, lost: lost?.lost ?? [], mode },
    splitBrain: {
      unexpected: unexpectedW.map((w) => windowReport(w, t0)),
      expected: expectedW.map((w) => windowReport(w, t0)),
      ...(exp ? { expectedWhy: exp.why } : {}),
    },
    staleAcks: { unexpected: unexpectedS.length, expected: expectedS.length, sample: [...unexpectedS, ...expectedS].slice(0, 5) },
    convergenceMs: convergenceMs === null ? null : Math.round(convergenceMs),
    probeRounds: monitor?.rounds ?? 0,
    notes,
    runDir: cluster.runDir,
  };
}

export const monotonicNow = (): number => performance.timeOrigin + performance.now();
