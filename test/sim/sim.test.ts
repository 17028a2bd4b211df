// The seeded simulation as a test. Environment (see docs/simulation.md; `npm run sim` sets them):
//   SIM_SEED=N        run only seed N (print its summary; SIM_TRACE=1 prints every trace line)
//   SIM_SEEDS=K       run K seeds starting at SIM_FROM (default 1); default 100 (CI), sim:long more
//   SIM_SECONDS=S     simulated seconds of the fault phase per seed (default 90)
// A failure prints the seed, the exact replay command, the violations, the setup and fault
// schedule, and the last 40 trace lines.
import { describe, expect, it } from 'vitest';
import { DEFAULT_FAULT_SECONDS, formatFailure, formatSummary, runSeed } from './run.js';
import type { SimResult } from './world.js';

const env = process.env;
const single = env['SIM_SEED'] !== undefined && env['SIM_SEED'] !== '' ? Number(env['SIM_SEED']) : null;
const count = Number(env['SIM_SEEDS'] ?? 100);
const from = Number(env['SIM_FROM'] ?? 1);
const seconds = Number(env['SIM_SECONDS'] ?? DEFAULT_FAULT_SECONDS);
const printTrace = env['SIM_TRACE'] === '1';

function seeds(): number[] {
  if (single !== null) return [single];
  return Array.from({ length: count }, (_, i) => from + i);
}

describe('deterministic simulation', () => {
  const list = seeds();
  it(`holds every invariant for ${list.length === 1 ? `seed ${list[0]}` : `seeds ${list[0]}..${list[list.length - 1]}`} (${seconds} s of faults each)`, async () => {
    const failures: SimResult[] = [];
    const started = performance.now();
    let simulated = 0;
    let events = 0;
    for (const seed of list) {
      const r = await runSeed(seed, { faultSeconds: seconds, traceAll: printTrace && single !== null });
      simulated += r.stats.simulatedMs;
      events += r.stats.steps;
      if (single !== null) {
        if (printTrace) console.log(r.trace.join('\n'));
        console.log(formatSummary(r));
        console.log(`setup: ${r.setup}`);
        console.log(`rules: ${Object.entries(r.stats.rules).map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      if (!r.ok) failures.push(r);
    }
    const wall = performance.now() - started;
    console.log(`simulation: ${list.length} seed(s), ${(simulated / 1000).toFixed(0)} s simulated, ${events} events in ${(wall / 1000).toFixed(1)} s wall; ${failures.length} failed${
      failures.length ? ` (seeds ${failures.map((f) => f.seed).join(', ')})` : ''}`);
    if (failures.length > 0) {
      const shown = failures.slice(0, 3).map((f) => formatFailure(f, seconds)).join('\n\n');
      expect.fail(`${failures.length} of ${list.length} seeds failed: ${failures.map((f) => f.seed).join(', ')}\n\n${shown}`);
    }
  }, 3_600_000);

  it('replays a seed exactly: same seed, identical trace', async () => {
    const a = await runSeed(11, { faultSeconds: 30, traceAll: true });
    const b = await runSeed(11, { faultSeconds: 30, traceAll: true });
    expect(b.traceLines).toBe(a.traceLines);
    expect(b.trace).toEqual(a.trace);
    expect(b.traceHash).toBe(a.traceHash);
    expect((await runSeed(12, { faultSeconds: 30 })).traceHash).not.toBe(a.traceHash);
  });
});
