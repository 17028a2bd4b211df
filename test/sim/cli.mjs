#!/usr/bin/env node
// Command line for the deterministic simulation (no TypeScript runner needed: it runs the
// simulation test through vitest with the right environment).
//
//   npm run sim -- --seed 42            replay one seed exactly (summary, rules hit, violations)
//   npm run sim -- --seed 42 --trace    … and print every trace line
//   npm run sim -- --seeds 500 --from 1000 --seconds 180
//   npm run sim:long                    many more seeds than CI runs
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const USAGE = 'usage: npm run sim -- [--seed N | --seeds K [--from F]] [--seconds S] [--trace]';
const args = process.argv.slice(2);
const env = { ...process.env };
const numeric = (flag, value) => {
  if (value === undefined || !/^\d+$/.test(value)) {
    console.error(`${flag} needs a whole number\n${USAGE}`);
    process.exit(2);
  }
  return value;
};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const [flag, inline] = a.includes('=') ? a.split('=', 2) : [a, undefined];
  const value = () => inline ?? args[++i];
  switch (flag) {
    case '--seed': env.SIM_SEED = numeric(flag, value()); break;
    case '--seeds': env.SIM_SEEDS = numeric(flag, value()); break;
    case '--from': env.SIM_FROM = numeric(flag, value()); break;
    case '--seconds': env.SIM_SECONDS = numeric(flag, value()); break;
    case '--trace': env.SIM_TRACE = '1'; break;
    case '--help': case '-h': console.log(USAGE); process.exit(0); break;
    default: console.error(`unknown argument ${a}\n${USAGE}`); process.exit(2);
  }
}
const require = createRequire(import.meta.url);
const vitest = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', 'test/sim/sim.test.ts', '-t', 'holds every invariant'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
