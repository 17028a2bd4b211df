// What ctl commands touch outside themselves: output streams, the terminal, the environment,
// time and the editor. Commands take a CtlIo so tests run them in-process with fakes.
import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { systemClock, sleep } from '../clock.js';

export interface Output {
  write(text: string): unknown;
}

export interface CtlIo {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly stdin: NodeJS.ReadableStream;
  /** stdin and stdout are terminals: confirmation prompts are possible. */
  readonly interactive: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly homeDir: string;
  /** Monotonic milliseconds (deadlines). */
  now(): number;
  /** Wall-clock epoch milliseconds (scheduled times). */
  wallNow(): number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Open `file` in the user's editor; resolves with its exit code. */
  edit(file: string): Promise<number>;
  /** Aborted on Ctrl-C (ends `list --watch`). */
  readonly interrupt?: AbortSignal;
}

/** Exit codes (SPEC §4). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Bad arguments, missing or invalid configuration: exit 2. */
export class CtlUsageError extends Error {
  override readonly name = 'CtlUsageError';
}

/** The operation was tried and did not succeed (or was declined): exit 1. */
export class CtlFailure extends Error {
  override readonly name = 'CtlFailure';
}

export function processIo(): CtlIo {
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    // `list --watch` ends on the abort and exits 0; anything else is cut short like a default Ctrl-C.
    interrupt.abort();
    setTimeout(() => process.exit(130), 500).unref();
  });
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
    env: process.env,
    homeDir: homedir(),
    now: () => systemClock.now(),
    wallNow: () => systemClock.wallNow(),
    sleep: (ms, signal) => sleep(systemClock, ms, signal),
    edit: (file) => runEditor(process.env, file),
    interrupt: interrupt.signal,
  };
}

/** $VISUAL, $EDITOR or vi, attached to the terminal. The command may carry arguments ("code -w"). */
export function runEditor(env: NodeJS.ProcessEnv, file: string): Promise<number> {
  const editor = (env.VISUAL || env.EDITOR || 'vi').trim();
  return new Promise((resolve, reject) => {
    const child = spawn(`${editor} "$PGWARDEN_EDIT_FILE"`, {
      shell: true, stdio: 'inherit', env: { ...env, PGWARDEN_EDIT_FILE: file },
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
