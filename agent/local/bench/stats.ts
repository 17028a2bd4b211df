// Small helpers for benchmark figures: order statistics and per-process resource use from /proc.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Spread {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, median, min: s[0]!, max: s[s.length - 1]! };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const CLK_TCK = 100; // Linux USER_HZ

/** CPU seconds (user + system) a process has used so far, or null if it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Resident set size in MiB, or null if the process is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Average CPU % and final RSS of `pids` over `ms`. */
export async function sampleResources(pids: readonly number[], ms: number): Promise<{ cpuPct: number[]; rssMiB: number[] }> {
  const before = pids.map(cpuSeconds);
  await new Promise((r) => setTimeout(r, ms));
  const after = pids.map(cpuSeconds);
  return {
    cpuPct: pids.map((_, i) => (before[i] === null || after[i] === null ? NaN : ((after[i]! - before[i]!) / (ms / 1000)) * 100)),
    rssMiB: pids.map((p) => rssMiB(p) ?? NaN),
  };
}

/** Print the one machine-readable summary line every benchmark ends with. */
export function printSummary(name: string, figures: Record<string, unknown>): string {
  const line = `BENCH_SUMMARY ${JSON.stringify({ bench: name, ...figures })}`;
  process.stdout.write(`${line}\n`);
  return line;
}

/** A timestamped progress line. */
export function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

/** Run a program (pgbench, wrk…) to completion with a deadline; resolves its stdout+stderr. */
export function runProgram(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${bin} exited ${code ?? signal}: ${out.slice(-2000)}`));
    });
  });
}
