// The default chaos subset (issue 6): node loss, primary partitioned from etcd, primary's agent
// frozen past its ttl — one repetition each, on a 3-node LocalCluster whose nodes each run in their
// own network namespace. Every invariant checker of agent/chaos/invariants.ts runs throughout.
// Needs root, ip, iptables and tc: when they are missing this FAILS (it never skips).
// The full matrix: npm run chaos (pgwarden chaos run all).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markdownTable, writeJsonReport } from '../../agent/chaos/report.js';
import { runChaos, type ChaosReport } from '../../agent/chaos/runner.js';
import { resolveScenarios, SUBSET } from '../../agent/chaos/scenarios/index.js';
import { requireNetTools } from '../../agent/local/netns.js';

function namespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('pgw'));
}

function links(): string[] {
  const r = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n.startsWith('pgw'));
}

describe('chaos subset (netns)', () => {
  let before: { ns: string[]; links: string[] };
  let report: ChaosReport | null = null;

  beforeAll(() => {
    // Loud failure, not a skip, when the tools (or root) are missing.
    requireNetTools();
    before = { ns: namespaces(), links: links() };
  });

  afterAll(() => {
    if (report) {
      process.stdout.write(`\n${markdownTable(report)}\n`);
      writeJsonReport('test-results/chaos-subset.json', report);
    }
  });

  it('node loss, partition from etcd and agent freeze keep every invariant', async () => {
    const lines: string[] = [];
    report = await runChaos({
      scenarios: resolveScenarios(SUBSET),
      reps: 1,
      mode: 'async',
      progress: (l) => {
        lines.push(l);
        process.stdout.write(`[chaos] ${l}\n`);
      },
    });
    expect(report.results.map((r) => r.scenario)).toEqual([...SUBSET]);
    for (const r of report.results) {
      expect(r.failures, `${r.scenario}: ${r.failures.join('; ')} (run dir ${r.runDir})`).toEqual([]);
      expect(r.rtoMs, `${r.scenario} RTO`).not.toBeNull();
      expect(r.convergenceMs, `${r.scenario} convergence`).not.toBeNull();
      expect(r.probeRounds).toBeGreaterThan(20);
      expect(r.splitBrain.unexpected).toEqual([]);
      expect(r.staleAcks.unexpected).toBe(0);
    }
    // The frozen agent's fence guard kills its PostgreSQL before the lease can expire: no overlap
    // with the new primary, expected or not.
    const freeze = report.results.find((r) => r.scenario === 'agent-freeze')!;
    expect(freeze.splitBrain.expected).toEqual([]);
    expect(freeze.staleAcks.expected).toBe(0);
    expect(report.ok).toBe(true);
    // Nothing left behind: namespaces, veths and bridges of the run are gone.
    expect(namespaces().filter((n) => !before.ns.includes(n))).toEqual([]);
    expect(links().filter((n) => !before.links.includes(n))).toEqual([]);
  }, 240_000);
});
