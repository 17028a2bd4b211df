// The fence guard's cost (docs/benchmarks.md): node test/bench/guard-cost.mjs INTERVAL_MS SECONDS, after npm run -s build.
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const { ProcessFenceGuard } = await import('../../dist/agent/guard/client.js');
const { systemClock } = await import('../../dist/agent/clock.js');
const { createLogger } = await import('../../dist/agent/log.js');
const logger = createLogger({ level: 'silent', format: 'json' });
const dir = mkdtempSync(join(tmpdir(), 'gb-'));
const intervalMs = Number(process.argv[2] ?? 750), seconds = Number(process.argv[3] ?? 60);
const g = new ProcessFenceGuard({ dataDir: dir, mode: 'automatic', device: null, maxDeviceTimeoutS: () => null, postmasterPid: () => null, clock: systemClock, logger });
const t0 = performance.now();
await g.start();
const startMs = performance.now() - t0;
const cpu = () => { const f = readFileSync(`/proc/${g.pid}/stat`, 'utf8').slice(readFileSync(`/proc/${g.pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${g.pid}/status`, 'utf8'))[1]) / 1024;
const lat = [];
const cpu0 = cpu();
const end = performance.now() + seconds * 1000;
let last = g.feeds.count;
while (performance.now() < end) {
  g.arm(systemClock.now() + 2400);
  await new Promise((r) => setTimeout(r, intervalMs));
  if (g.feeds.count > last) { lat.push(g.feeds.lastMs); last = g.feeds.count; }
}
const cpuMs = cpu() - cpu0;
const r = rss();
g.disarm();
await g.close();
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(3);
console.log(JSON.stringify({ intervalMs, seconds, startMs: Math.round(startMs), feeds: lat.length, cpuMsPerSec: (cpuMs / seconds).toFixed(3), cpuPct: (cpuMs / seconds / 10).toFixed(3), rssMiB: r.toFixed(1), feedMs: { p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1].toFixed(3) } }));
