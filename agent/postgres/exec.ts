// Run one program with a deadline and captured (bounded) output. Used for initdb, pg_basebackup,
// pg_rewind and pg_controldata. The postmaster itself is started by control.ts (it outlives a call).
import { spawn } from 'node:child_process';
import type { Clock, Timer } from '../clock.js';

/** The OS identity spawned PostgreSQL programs run as (null: the agent's own identity). */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export interface RunOptions {
  readonly file: string;
  readonly args: readonly string[];
  /** Extra variables on top of childEnv(). */
  readonly env?: Readonly<Record<string, string>>;
  readonly owner: Owner | null;
  readonly timeoutMs: number;
  /** Called for every complete line of stderr/stdout (lines end at \n or \r: `-P` uses \r). */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** After the deadline: SIGTERM, then SIGKILL of the process group after this many ms. */
  readonly killGraceMs?: number;
  /** Times the run and sets its deadline and kill timers. */
  readonly clock: Clock;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

const MAX_CAPTURE = 256 * 1024;

/**
 * The environment for PostgreSQL programs: ours without PG* variables (PGHOST, PGDATA, PGPASSWORD…
 * would silently change what the program does) and with C messages so output can be parsed.
 */
export function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('PG') || k.startsWith('LC_') || k === 'LANG' || k === 'LANGUAGE') continue;
    env[k] = v;
  }
  env.LC_ALL = 'C';
  env.LANG = 'C';
  return { ...env, ...extra };
}

function appendBounded(buf: string, chunk: string): string {
  const next = buf + chunk;
  return next.length > MAX_CAPTURE ? next.slice(next.length - MAX_CAPTURE) : next;
}

/** Last `n` non-empty lines of a captured output, for error messages. */
export function tail(text: string, n = 8): string {
  return text.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => l.length > 0).slice(-n).join(' | ');
}

/**
 * Spawn `file args` (as `owner` when set), capture output, and kill it at the deadline.
 * Resolves with the exit status (also on non-zero exit and on timeout: see `timedOut`);
 * rejects only when the program cannot be started at all (e.g. missing binary).
 */
export function runProgram(opts: RunOptions): Promise<RunResult> {
  const { clock } = opts;
  const started = clock.now();
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(opts.file, [...opts.args], {
      cwd: '/',
      env: childEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a deadline kill reaches its helpers (initdb → postgres)
      ...(opts.owner ? { uid: opts.owner.uid, gid: opts.owner.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    const partial = { stdout: '', stderr: '' };
    let timedOut = false;
    let killTimer: Timer | undefined;

    const feed = (stream: 'stdout' | 'stderr', chunk: string): void => {
      if (stream === 'stdout') stdout = appendBounded(stdout, chunk);
      else stderr = appendBounded(stderr, chunk);
      if (!opts.onLine) return;
      const parts = (partial[stream] + chunk).split(/\r\n|\r|\n/);
      partial[stream] = parts.pop() ?? '';
      if (partial[stream].length > 64 * 1024) partial[stream] = '';
      for (const line of parts) if (line.length > 0) opts.onLine(line, stream);
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => feed('stdout', c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => feed('stderr', c));

    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, sig); } catch { /* already gone */ }
    };
    const deadline = clock.setTimer(opts.timeoutMs, () => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = clock.setTimer(opts.killGraceMs ?? 3000, () => killGroup('SIGKILL'));
    });

    child.once('error', (err) => {
      deadline.cancel();
      killTimer?.cancel();
      reject(new Error(`cannot run ${opts.file}: ${err.message}`));
    });
    let settled = false;
    let closeTimer: Timer | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      deadline.cancel();
      killTimer?.cancel();
      closeTimer?.cancel();
      for (const s of ['stdout', 'stderr'] as const) {
        if (partial[s] && opts.onLine) opts.onLine(partial[s], s);
      }
      if (timedOut) killGroup('SIGKILL'); // leftovers of the group, if any
      resolve({ code, signal, stdout, stderr, timedOut, durationMs: clock.now() - started });
    };
    child.once('close', finish);
    // A grandchild that kept our pipes open must not hold the caller past the program's own exit.
    child.once('exit', (code, signal) => { closeTimer = clock.setTimer(2000, () => finish(code, signal)); });
  });
}
