// `pgwarden bench <name>`: benchmarks that print their figures (never timing assertions);
// each ends with one `BENCH_SUMMARY {json}` line for scripts.
import { benchFailover } from './failover.js';
import { benchHealth } from './health.js';
import { benchRouting } from './routing.js';
import { benchSoak } from './soak.js';
import { benchSync } from './pgbench-sync.js';
import { benchSwitchover } from './switchover.js';

export const BENCHMARKS = ['failover', 'soak', 'switchover', 'health', 'routing', 'sync'] as const;
export type BenchName = (typeof BENCHMARKS)[number];

export async function runBench(name: BenchName, opts: { runs?: number; seconds?: number }): Promise<number> {
  switch (name) {
    case 'failover': return benchFailover({ runs: opts.runs ?? 5 });
    case 'soak': return benchSoak({ seconds: opts.seconds ?? 600 });
    case 'switchover': return benchSwitchover({ runs: opts.runs ?? 5 });
    case 'health': return benchHealth({ seconds: opts.seconds ?? 15 });
    case 'routing': return benchRouting({ runs: opts.runs ?? 5 });
    case 'sync': return benchSync({ seconds: opts.seconds ?? 60 });
  }
}
