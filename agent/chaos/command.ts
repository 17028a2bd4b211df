// `pgwarden chaos run SCENARIO… [--reps N] [--report out.json] [--mode sync|async] [--keep]` and
// `pgwarden chaos list`. Needs root (network namespaces), ip, iptables and tc, and a built agent.
// Exit 0 when every invariant held, 1 when one broke (or a scenario failed), 2 on usage errors.
import { resolveScenarios, SCENARIOS, SUBSET } from './scenarios/index.js';
import { markdownTable, writeJsonReport } from './report.js';
import { runChaos } from './runner.js';
import type { ReplicationMode } from './invariants.js';

export interface ChaosCommandArgs {
  readonly action: 'run' | 'list';
  readonly scenarios: readonly string[];
  readonly reps?: number;
  readonly report?: string;
  readonly mode?: ReplicationMode;
  readonly keep?: boolean;
}

export async function runChaosCommand(args: ChaosCommandArgs): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (args.action === 'list') {
    for (const sc of SCENARIOS) out(`${sc.name.padEnd(26)} ${sc.description}`);
    out(`\nsubset: ${SUBSET.join(', ')}   (also: all)`);
    return 0;
  }
  if (args.scenarios.length === 0) throw new Error('name at least one scenario (pgwarden chaos list), or "subset" / "all"');
  const scenarios = resolveScenarios(args.scenarios);
  out(`[chaos] ${scenarios.length} scenario(s) × ${args.reps ?? 1} rep(s), ${args.mode ?? 'async'} replication`);
  const report = await runChaos({
    scenarios,
    reps: args.reps ?? 1,
    mode: args.mode ?? 'async',
    keepRuns: args.keep ?? false,
    progress: (l) => out(`[chaos] ${l}`),
  });
  out('');
  out(markdownTable(report));
  if (args.report) {
    writeJsonReport(args.report, report);
    out(`\nJSON report: ${args.report}`);
  }
  out(report.ok ? '\nall invariants held' : '\nINVARIANT BROKEN (see the table; run directories kept)');
  return report.ok ? 0 : 1;
}
