// The postmaster as the agent's child: spawn (wrapped so it dies with the agent), adopt one left by
// a previous agent, wait for readiness, stop with a deadline.
import { spawn } from 'node:child_process';
import { accessSync, constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { every, sleep, type Clock, type Timer } from '../clock.js';
import { childEnv, type Owner } from './exec.js';
import { isAlive, postgresProcessesIn, readPidFile, signal } from './procfs.js';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: string | null;
}

/** A postmaster we started (child) or found running (adopted, watched by polling its pid). */
export class Postmaster {
  alive = true;
  /** stop() asked for this exit: not unexpected. */
  stopRequested = false;
  /** start() is waiting for readiness: an exit now is reported by start() itself. */
  starting = false;
  readonly exited: Promise<ExitInfo>;
  #resolveExit!: (info: ExitInfo) => void;
  #poll: Timer | undefined;
  readonly #clock: Clock;

  constructor(readonly pid: number, readonly adopted: boolean, readonly logOffset: number, clock: Clock) {
    this.#clock = clock;
    this.exited = new Promise((resolve) => { this.#resolveExit = resolve; });
  }

  /** Record the exit (idempotent). */
  markExited(info: ExitInfo): void {
    if (!this.alive) return;
    this.alive = false;
    this.#poll?.cancel();
    this.#resolveExit(info);
  }

  /** For adopted postmasters: poll liveness every `everyMs`. */
  watch(everyMs: number): void {
    let busy = false;
    this.#poll = every(this.#clock, everyMs, () => {
      if (busy) return;
      busy = true;
      void isAlive(this.pid).then((alive) => {
        busy = false;
        if (!alive) this.markExited({ code: null, signal: null });
      });
    }, { background: true });
  }

  /** Resolves true if it exited within `ms`. */
  async waitExit(ms: number): Promise<boolean> {
    if (!this.alive) return true;
    let timer: Timer | undefined;
    const timeout = new Promise<false>((resolve) => { timer = this.#clock.setTimer(ms, () => resolve(false)); });
    const r = await Promise.race([this.exited.then(() => true as const), timeout]);
    timer?.cancel();
    return r;
  }
}

let setprivPath: string | null = null;

/** util-linux setpriv, used as exec wrapper for --pdeathsig. */
export function findSetpriv(): string {
  if (setprivPath) return setprivPath;
  const dirs = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', ...(process.env.PATH ?? '').split(':')];
  for (const d of dirs) {
    const p = path.join(d || '.', 'setpriv');
    try {
      accessSync(p, constants.X_OK);
      setprivPath = p;
      return p;
    } catch { /* next */ }
  }
  throw new Error('setpriv (util-linux) not found: pgwarden needs it so PostgreSQL dies with the agent; install util-linux');
}

export interface SpawnSpec {
  readonly binDir: string;
  readonly dataDir: string;
  readonly owner: Owner | null;
  readonly logFile: string;
  readonly clock: Clock;
}

/**
 * Start `postgres -D dataDir` through `setpriv --pdeathsig SIGQUIT` (immediate shutdown if the agent
 * dies), in its own session (a Ctrl-C on the agent's terminal does not reach it), as `owner`, with
 * stdout/stderr appended to the log file.
 */
export async function spawnPostmaster(spec: SpawnSpec): Promise<Postmaster> {
  const setpriv = findSetpriv();
  const handle = await fs.open(spec.logFile, 'a', 0o640);
  try {
    if (spec.owner) await handle.chown(spec.owner.uid, spec.owner.gid);
    const offset = (await handle.stat()).size;
    await handle.write(`\n--- pgwarden: starting postgres at ${new Date(spec.clock.wallNow()).toISOString()} ---\n`);
    const logOffset = offset;
    const child = spawn(setpriv, ['--pdeathsig', 'SIGQUIT', '--', path.join(spec.binDir, 'postgres'), '-D', spec.dataDir], {
      cwd: '/',
      env: childEnv(),
      stdio: ['ignore', handle.fd, handle.fd],
      detached: true,
      ...(spec.owner ? { uid: spec.owner.uid, gid: spec.owner.gid } : {}),
    });
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new Error(`cannot start postgres via ${setpriv}: ${err.message}`);
    }
    child.on('error', () => undefined); // exit is reported through 'exit'
    const pm = new Postmaster(child.pid, false, logOffset, spec.clock);
    child.once('exit', (code, sig) => pm.markExited({ code, signal: sig }));
    return pm;
  } finally {
    await handle.close();
  }
}

/** Text appended to the log since `offset` (at most the last 64 kB). */
export async function readLogSince(logFile: string, offset: number): Promise<string> {
  try {
    const h = await fs.open(logFile, 'r');
    try {
      const size = (await h.stat()).size;
      const from = Math.max(offset, size - 64 * 1024);
      const buf = Buffer.alloc(Math.max(0, size - from));
      await h.read(buf, 0, buf.length, from);
      return buf.toString('utf8');
    } finally {
      await h.close();
    }
  } catch {
    return '';
  }
}

export type ReadyState = 'ready' | 'starting';

/** 'ready' once postmaster.pid (of this pid) says ready or standby. */
export async function readiness(dataDir: string, pid: number): Promise<ReadyState> {
  const pf = await readPidFile(dataDir);
  if (pf && pf.pid === pid && (pf.status === 'ready' || pf.status === 'standby')) return 'ready';
  return 'starting';
}

export class StartAborted extends Error {}

/** Poll postmaster.pid every `everyMs` until ready, exit, abort or the deadline (monotonic ms). */
export async function waitReady(
  pm: Postmaster, dataDir: string, deadline: number, clock: Clock, aborted: () => boolean, everyMs = 50,
): Promise<void> {
  for (;;) {
    if (!pm.alive) throw new Error('postgres exited while starting');
    if (aborted()) throw new StartAborted('start aborted: stop() was called');
    if ((await readiness(dataDir, pm.pid)) === 'ready') return;
    const left = deadline - clock.now();
    if (left <= 0) throw new Error('postgres did not become ready before the start timeout');
    await Promise.race([sleep(clock, Math.min(everyMs, left)), pm.exited]);
  }
}

/** SIGKILL the postmaster and any postgres process still working in the data dir. */
export async function killAll(pid: number, dataDir: string, log: Logger): Promise<void> {
  signal(-pid, 'SIGKILL');
  signal(pid, 'SIGKILL');
  const rest = await postgresProcessesIn(dataDir);
  for (const p of rest) signal(p, 'SIGKILL');
  log.warn({ postmaster: pid, others: rest }, 'postgres killed with SIGKILL');
}

/**
 * Signal the postmaster (fast: SIGINT, immediate: SIGQUIT) and wait for its exit; past the
 * deadline SIGKILL it and its processes and wait a bounded time more.
 */
export async function stopPostmaster(
  pm: Postmaster, mode: 'fast' | 'immediate', timeoutMs: number, dataDir: string, log: Logger,
): Promise<void> {
  pm.stopRequested = true;
  if (!pm.alive) return;
  signal(pm.pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
  if (await pm.waitExit(timeoutMs)) return;
  log.warn({ postmaster: pm.pid, mode, timeoutMs }, 'postgres did not stop in time');
  await killAll(pm.pid, dataDir, log);
  if (!(await pm.waitExit(5000))) throw new Error(`postgres (pid ${pm.pid}) survived SIGKILL for 5 s`);
}

/**
 * Wait (bounded) until no postgres process works in the data dir any more: backends of a killed
 * postmaster exit by themselves within moments; past `timeoutMs` they get SIGKILL.
 */
export async function waitForOrphans(dataDir: string, timeoutMs: number, log: Logger, clock: Clock): Promise<void> {
  const until = clock.now() + timeoutMs;
  let pids = await postgresProcessesIn(dataDir);
  while (pids.length > 0 && clock.now() < until) {
    await sleep(clock, 50);
    pids = await postgresProcessesIn(dataDir);
  }
  if (pids.length === 0) return;
  log.warn({ pids }, 'orphaned postgres processes still in the data dir, killing them');
  for (const p of pids) signal(p, 'SIGKILL');
  const hard = clock.now() + 3000;
  while ((await postgresProcessesIn(dataDir)).length > 0) {
    if (clock.now() > hard) throw new Error(`postgres processes ${pids.join(',')} survive in ${dataDir}`);
    await sleep(clock, 50);
  }
}
