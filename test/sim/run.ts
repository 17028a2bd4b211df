// Run one seed, or many, and format a failure so it can be replayed exactly.
import { World, type SimConfig, type SimResult } from './world.js';

export const DEFAULT_FAULT_SECONDS = 90;
export const DEFAULT_LIVENESS_SECONDS = 60;

export type RunOptions = Partial<Omit<SimConfig, 'seed'>>;

export function runSeed(seed: number, opts: RunOptions = {}): Promise<SimResult> {
  const world = new World({
    faultSeconds: DEFAULT_FAULT_SECONDS,
    livenessSeconds: DEFAULT_LIVENESS_SECONDS,
    ...opts,
    seed,
  });
  return world.run();
}

/** The command that replays this seed exactly. */
export function replayCommand(seed: number, faultSeconds: number): string {
  return `npm run sim -- --seed ${seed}${faultSeconds === DEFAULT_FAULT_SECONDS ? '' : ` --seconds ${faultSeconds}`}`;
}

export function formatFailure(r: SimResult, faultSeconds: number): string {
  return [
    `simulation seed ${r.seed} FAILED`,
    `replay: ${replayCommand(r.seed, faultSeconds)}   (add --trace for every line)`,
    ...r.violations.map((v) => `  ${v.kind} at t=${v.at}: ${v.message}`),
    `setup: ${r.setup}`,
    `faults:`,
    ...r.faults.map((f) => `  ${f}`),
    `last ${r.tail.length} trace lines:`,
    ...r.tail.map((l) => `  ${l}`),
  ].join('\n');
}

export function formatSummary(r: SimResult): string {
  const s = r.stats;
  return `seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED'}; ${s.steps} events, ${(s.simulatedMs / 1000).toFixed(1)} s simulated; writes ${s.writesAcked}/${s.writesAttempted} acknowledged, ${
    s.lostAcked} acknowledged lost; ${s.promotions} promotions; guard fences ${s.guardFences}; freeze windows ${s.freezeWindows} (${s.freezeAcks} acks, ${s.routedToFrozen} sessions); converged in ${
    s.convergenceMs === null ? '—' : `${s.convergenceMs} ms`}; trace ${r.traceLines} lines #${r.traceHash}`;
}
