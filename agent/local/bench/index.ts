// `pgwarden bench <name>`: benchmarks that print their figures (never timing assertions);
// each ends with one `BENCH_SUMMARY {json}` line for scripts.
import { benchFailover } from './failover.js';
import { benchSoak } from './soak.js';

export async function runBench(name: 'failover' | 'soak', opts: { runs?: number; seconds?: number }): Promise<number> {
  return name === 'failover'
    ? benchFailover({ runs: opts.runs ?? 5 })
    : benchSoak({ seconds: opts.seconds ?? 600 });
}
