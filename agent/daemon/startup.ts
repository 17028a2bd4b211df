// Start-up checks and waits of the daemon (issue 11, item 8): conditions an operator expects —
// etcd not up yet, a wrong postgresql.bin_dir, the REST port still held — end in clear log lines
// and one error line, never a stack trace, and never a crash loop under systemd.
//
//   - bin_dir: checked before anything else; a ConfigError naming the file and key (exit 2,
//     which the systemd unit does not restart: RestartPreventExitStatus=2).
//   - etcd: retried with a backoff that doubles up to a cap, one WARN line per attempt, until a
//     deadline (default 5 min); then StartupError (exit 1) and systemd restarts the agent after
//     RestartSec, far below its start-rate limit.
//   - the REST port: retried for a bounded time (a previous agent may still be shutting down),
//     then StartupError with one line naming the address and the key.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../clock.js';
import { sleep, withDeadline } from '../clock.js';
import type { Logger } from '../log.js';
import { ConfigError } from '../config/errors.js';

/** A start-up failure that is an expected condition: one line on stderr, this exit code. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

/** Start-up was interrupted by SIGTERM/SIGINT: exit 0 without having changed anything. */
export class StartupAborted extends Error {
  override readonly name = 'StartupAborted';
}

/** The programs pgwarden runs from postgresql.bin_dir. */
export const REQUIRED_PG_PROGRAMS = ['postgres', 'initdb', 'pg_basebackup', 'pg_controldata', 'pg_rewind'] as const;

/** Check postgresql.bin_dir holds every program pgwarden runs; ConfigError (exit 2) otherwise. */
export function checkBinDir(binDir: string, file: string | null): void {
  const problem = (message: string): ConfigError => new ConfigError([{
    file, keyPath: 'postgresql.bin_dir', message,
    allowed: `a directory holding ${REQUIRED_PG_PROGRAMS.join(', ')} (Debian: /usr/lib/postgresql/15/bin)`,
  }]);
  let isDir = false;
  try {
    isDir = statSync(binDir).isDirectory();
  } catch {
    throw problem(`${JSON.stringify(binDir)} does not exist`);
  }
  if (!isDir) throw problem(`${JSON.stringify(binDir)} is not a directory`);
  const missing: string[] = [];
  const notExecutable: string[] = [];
  for (const prog of REQUIRED_PG_PROGRAMS) {
    const file = path.join(binDir, prog);
    try {
      if (!statSync(file).isFile()) { missing.push(prog); continue; }
    } catch {
      missing.push(prog);
      continue;
    }
    try {
      accessSync(file, constants.X_OK);
    } catch {
      notExecutable.push(prog);
    }
  }
  if (missing.length > 0) throw problem(`${JSON.stringify(binDir)} has no ${missing.join(', ')}`);
  if (notExecutable.length > 0) throw problem(`${notExecutable.join(', ')} in ${JSON.stringify(binDir)} ${notExecutable.length === 1 ? 'is' : 'are'} not executable`);
}

/** The message of an error, one line, without a stack. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' ') || (err instanceof Error ? err.name : 'unknown error');
}

export const ETCD_WAIT = {
  /** Give up (exit 1; systemd restarts the agent) when etcd has not answered for this long. */
  deadlineMs: 5 * 60_000,
  firstDelayMs: 500,
  maxDelayMs: 15_000,
  /** One attempt may take this long at most. */
  attemptTimeoutMs: 10_000,
} as const;

export interface EtcdWaitOptions {
  /** One read of the cluster from etcd (resolves when etcd answered). */
  readonly probe: () => Promise<unknown>;
  readonly hosts: readonly string[];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
  readonly deadlineMs?: number;
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly attemptTimeoutMs?: number;
}

/**
 * Wait until etcd answers a read. Retries with a doubling delay (capped), logs one WARN per failed
 * attempt (the error's message, no stack) and one INFO when etcd answers after a failure. Throws
 * StartupError at the deadline, StartupAborted when `signal` aborts.
 */
export async function waitForEtcd(o: EtcdWaitOptions): Promise<void> {
  const deadlineMs = o.deadlineMs ?? ETCD_WAIT.deadlineMs;
  const attemptMs = o.attemptTimeoutMs ?? ETCD_WAIT.attemptTimeoutMs;
  const maxDelay = o.maxDelayMs ?? ETCD_WAIT.maxDelayMs;
  const start = o.clock.now();
  const deadline = start + deadlineMs;
  let delay = o.firstDelayMs ?? ETCD_WAIT.firstDelayMs;
  let lastError = '';
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw new StartupAborted('start-up interrupted while waiting for etcd');
    try {
      // The last attempt, at the deadline, still gets a fair chance (and a meaningful error).
      const left = Math.min(attemptMs, Math.max(deadline - o.clock.now(), Math.min(attemptMs, 2_000)));
      await withDeadline(o.clock, o.probe(), left, () => new Error(`no answer within ${left} ms`));
      if (attempt > 1) {
        o.logger.info({ hosts: o.hosts, attempts: attempt, waited_ms: Math.round(o.clock.now() - start) }, 'etcd is reachable; starting');
      }
      return;
    } catch (err) {
      lastError = oneLine(err);
    }
    const now = o.clock.now();
    if (now >= deadline) break;
    const wait = Math.round(Math.min(delay, deadline - now));
    o.logger.warn(
      { hosts: o.hosts, attempt, error: lastError, retry_in_ms: wait, gives_up_in_ms: Math.round(deadline - now) },
      `etcd is not reachable (${lastError}); retrying in ${(wait / 1000).toFixed(1)} s`,
    );
    await sleep(o.clock, wait, o.signal);
    delay = Math.min(delay * 2, maxDelay);
  }
  throw new StartupError(
    `etcd (${o.hosts.join(', ')}) did not answer within ${Math.round(deadlineMs / 1000)} s (last error: ${lastError}); ` +
    'check etcd.hosts and that etcd is running');
}

export const LISTEN_WAIT = {
  /** Keep trying a port in use this long (a previous agent may still be stopping). */
  deadlineMs: 15_000,
  delayMs: 1_000,
} as const;

/**
 * Bind the REST API. EADDRINUSE is retried until the deadline (one WARN per attempt); then, or
 * for any other listen error (EACCES, EADDRNOTAVAIL…), StartupError with one line.
 */
export async function listenOrExplain(
  listen: () => Promise<string>, address: string, o: { clock: Clock; logger: Logger; signal?: AbortSignal | undefined; deadlineMs?: number; delayMs?: number },
): Promise<string> {
  const deadline = o.clock.now() + (o.deadlineMs ?? LISTEN_WAIT.deadlineMs);
  for (let attempt = 1; ; attempt++) {
    try {
      return await listen();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use (another pgwarden agent or program holds the port)'
        : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
          : code === 'EADDRNOTAVAIL' ? 'this host has no such address'
            : oneLine(err);
      if (code !== 'EADDRINUSE' || o.clock.now() >= deadline || o.signal?.aborted) {
        throw new StartupError(`REST API cannot listen on ${address} (restapi.listen): ${why}`);
      }
      o.logger.warn({ listen: address, attempt, code }, `REST API cannot listen on ${address}: ${why}; retrying`);
      await sleep(o.clock, o.delayMs ?? LISTEN_WAIT.delayMs, o.signal);
    }
  }
}
