// The guard program as a real process, driven through the agent's client (ProcessFenceGuard): a
// fake "postmaster" (bash) whose children each run in their own session, as PostgreSQL's do, is
// killed with all its children once an armed deadline passes unfed, and only then.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../agent/clock.js';
import { createLogger } from '../../../agent/log.js';
import { ProcessFenceGuard, type GuardClientOptions } from '../../../agent/guard/client.js';
import { guardProgramForTests } from './program.js';

const logger = createLogger({ level: 'silent', format: 'json' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cleanup: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A postmaster stand-in with three children in sessions of their own; returns all pids. */
async function fakePostmaster(dir: string): Promise<{ pm: ChildProcess; pids: number[] }> {
  const pm = spawn('bash', ['-c', 'for i in 1 2 3; do setsid sleep 1000 & done; echo $(jobs -p); wait'], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise<string>((resolve) => pm.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
  const pids = [pm.pid!, ...line.trim().split(/\s+/).map(Number)];
  cleanup.push(() => { for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } });
  return { pm, pids };
}

async function startGuard(dir: string, opts: Partial<GuardClientOptions> = {}, pid: () => number | null = () => null): Promise<ProcessFenceGuard> {
  const g = new ProcessFenceGuard({
    dataDir: dir, mode: 'automatic', device: null, maxDeviceTimeoutS: () => null, postmasterPid: pid,
    clock: systemClock, logger, program: guardProgramForTests(), ...opts,
  });
  await g.start();
  cleanup.push(() => g.close());
  return g;
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pgwarden-guard-data-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('the fence guard process', () => {
  it('kills the postmaster and every child by the deadline when it is not fed', async () => {
    const dir = tmp();
    const { pids } = await fakePostmaster(dir);
    const g = await startGuard(dir, {}, () => pids[0]!);
    const deadline = systemClock.now() + 400;
    g.arm(deadline);
    await sleep(250);
    expect(pids.every(alive), 'alive before the deadline').toBe(true);
    while (systemClock.now() < deadline + 100 && !g.lastFired) await sleep(5);
    expect(g.lastFired, 'the guard reported firing').not.toBeNull();
    expect(g.lastFired!.killed).toBe(4);
    expect(g.lastFired!.survivors).toBe(0);
    // It fired before the deadline (slack 50 ms), not after.
    expect(Number(g.lastFired!.lateNs) / 1e6).toBeLessThanOrEqual(0);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('never fires while fed before each deadline, nor once disarmed', async () => {
    const dir = tmp();
    const { pids } = await fakePostmaster(dir);
    const g = await startGuard(dir, {}, () => pids[0]!);
    for (let i = 0; i < 10; i++) {
      g.arm(systemClock.now() + 300);
      await sleep(100);
    }
    g.disarm();
    await sleep(500);
    expect(g.lastFired).toBeNull();
    expect(pids.every(alive)).toBe(true);
    expect(g.feeds.count).toBeGreaterThanOrEqual(10);
  });

  it('finds the postmaster from postmaster.pid when the agent did not know its pid', async () => {
    const dir = tmp();
    const { pids } = await fakePostmaster(dir);
    writeFileSync(join(dir, 'postmaster.pid'), `${pids[0]}\n${dir}\n`);
    const g = await startGuard(dir);
    g.arm(systemClock.now() + 100);
    await sleep(400);
    expect(g.lastFired?.pid).toBe(pids[0]);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('still fires after the agent is gone (its stdin closed) while armed, then exits', async () => {
    const dir = tmp();
    const { pids } = await fakePostmaster(dir);
    const guard = spawn(process.execPath, [guardProgramForTests(), '--data-dir', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    cleanup.push(() => { guard.kill('SIGKILL'); });
    const out: string[] = [];
    guard.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    const exited = new Promise<number | null>((r) => guard.once('exit', (code) => r(code)));
    const deadline = systemClock.hostMonotonicNs!(systemClock.now() + 300);
    guard.stdin!.end(`arm 1 ${deadline} ${pids[0]}\n`); // then the pipe closes, as when the agent dies
    expect(await exited).toBe(0);
    expect(out.join('')).toMatch(/^ready none -\nok 1\nfired \d+ 4 0 -?\d+\n$/);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('exits at once when the agent is gone while disarmed', async () => {
    const dir = tmp();
    const guard = spawn(process.execPath, [guardProgramForTests(), '--data-dir', dir], { stdio: ['pipe', 'ignore', 'inherit'] });
    const exited = new Promise<number | null>((r) => guard.once('exit', (code) => r(code)));
    guard.stdin!.end();
    expect(await exited).toBe(0);
  });

  it('is restarted when it dies, and unhealthy until it runs again', async () => {
    const dir = tmp();
    const g = await startGuard(dir);
    expect(g.healthy()).toBe(true);
    const first = g.pid!;
    process.kill(first, 'SIGKILL');
    while (g.healthy()) await sleep(1);
    expect(g.healthy()).toBe(false);
    for (let i = 0; i < 200 && !g.healthy(); i++) await sleep(10);
    expect(g.healthy()).toBe(true);
    expect(g.pid).not.toBe(first);
  });

  it('drives a watchdog device: a write per feed, the magic V when disarmed', async () => {
    const dir = tmp();
    const dev = join(dir, 'watchdog');
    writeFileSync(dev, '');
    const g = await startGuard(dir, { device: dev, mode: 'required', maxDeviceTimeoutS: () => 2 });
    expect(g.healthy()).toBe(true);
    for (let i = 0; i < 3; i++) {
      g.arm(systemClock.now() + 5000);
      await sleep(20);
    }
    g.disarm();
    await sleep(50);
    expect(readFileSync(dev, 'utf8')).toBe('111V');
  });

  it('in required mode, a device that fails makes it unhealthy', async () => {
    const dir = tmp();
    const dev = join(dir, 'watchdog');
    writeFileSync(dev, '');
    const g = await startGuard(dir, { device: dev, mode: 'required', maxDeviceTimeoutS: () => 2 });
    rmSync(dir, { recursive: true, force: true }); // the device disappears before it is first opened
    g.arm(systemClock.now() + 5000);
    for (let i = 0; i < 100 && g.healthy(); i++) await sleep(10);
    expect(g.healthy()).toBe(false);
    g.disarm();
  });
});
