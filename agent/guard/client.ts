// The agent's side of the fence guard (ports.FenceGuard): starts the guard program (main.ts) as a
// child process in its own process group, feeds it the lease deadline as CLOCK_MONOTONIC
// nanoseconds, and watches it. A guard that exits is restarted at once (and re-armed); until it
// answers again it is not healthy, and the runtime fences rather than run a primary unguarded.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { FenceGuard } from '../ports/ports.js';
import { encodeCommand, parseEvent, type GuardCommand, type GuardEvent } from './protocol.js';

export type WatchdogMode = 'automatic' | 'required';

export interface GuardClientOptions {
  readonly dataDir: string;
  readonly mode: WatchdogMode;
  /** The watchdog device to drive (null: none; in required mode that leaves the guard unhealthy). */
  readonly device: string | null;
  /** The longest device timeout (s) that still resets the host before the lease expires (null: any). */
  readonly maxDeviceTimeoutS: () => number | null;
  /** The running postmaster's pid (null: unknown; the guard reads postmaster.pid when it fires). */
  readonly postmasterPid: () => number | null;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long before the deadline the guard's timer fires (default 50 ms). */
  readonly slackMs?: number;
  /** The guard program (default: main.js beside this file). */
  readonly program?: string;
  /** How long to wait for the guard's `ready` (default 5 s). */
  readonly readyTimeoutMs?: number;
}

/** Feed round trips (send → the guard's `ok`), for the benchmark and /metrics. */
export interface FeedStats {
  count: number;
  lastMs: number;
  maxMs: number;
  totalMs: number;
}

const RESTARTS_PER_MINUTE = 10;

/** main.js beside this module; run from sources (tests), the built one under dist/. */
export function guardProgram(): string {
  const beside = fileURLToPath(new URL('./main.js', import.meta.url));
  if (existsSync(beside)) return beside;
  return beside.replace(/\/agent\/guard\/main\.js$/, '/dist/agent/guard/main.js');
}

export class ProcessFenceGuard implements FenceGuard {
  #child: ChildProcess | null = null;
  #ready = false;
  #deviceOk: boolean;
  #deviceTimeoutS: number | null = null;
  #closing = false;
  #seq = 0;
  #last: GuardCommand | null = null;
  readonly #sent = new Map<number, number>();
  readonly #restarts: number[] = [];
  readonly #readyWaiters: Array<(err?: Error) => void> = [];
  #fired: Extract<GuardEvent, { kind: 'fired' }> | null = null;
  readonly feeds: FeedStats = { count: 0, lastMs: 0, maxMs: 0, totalMs: 0 };
  readonly #hostNs: (at: number) => bigint;

  constructor(private readonly o: GuardClientOptions) {
    const f = o.clock.hostMonotonicNs;
    if (!f) throw new Error('the fence guard needs a clock backed by the host\'s monotonic clock');
    this.#hostNs = (at) => f.call(o.clock, at);
    this.#deviceOk = o.device !== null;
  }

  /** The guard's process id (null while it is not running). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** The last time the guard fired (for logs and tests). */
  get lastFired(): Extract<GuardEvent, { kind: 'fired' }> | null {
    return this.#fired;
  }

  /** Start the guard and wait until it is ready. Rejects when it cannot start. */
  async start(): Promise<void> {
    this.#spawn();
    await this.#whenReady();
    if (this.o.mode === 'required' && !this.healthy()) {
      this.o.logger.error({ device: this.o.device, timeout_s: this.#deviceTimeoutS, max_timeout_s: this.o.maxDeviceTimeoutS() },
        'watchdog.mode is required but the watchdog device is missing or unusable: this node will not become or stay primary');
    }
  }

  healthy(): boolean {
    if (!this.#ready || this.#closing) return false;
    if (this.o.mode !== 'required') return true;
    if (!this.#deviceOk) return false;
    const max = this.o.maxDeviceTimeoutS();
    return this.#deviceTimeoutS === null || max === null || this.#deviceTimeoutS <= max;
  }

  arm(deadline: number): void {
    const deadlineNs = this.#hostNs(deadline);
    this.#send({ kind: 'arm', seq: ++this.#seq, deadlineNs: deadlineNs < 0n ? 0n : deadlineNs, pid: this.o.postmasterPid() ?? 0 });
  }

  disarm(): void {
    if (this.#last?.kind === 'disarm' || this.#last === null) return;
    this.#send({ kind: 'disarm', seq: ++this.#seq });
  }

  /** Disarm, close the device cleanly and let the guard exit (agent shutdown). */
  async close(): Promise<void> {
    this.#closing = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.#write(child, { kind: 'quit', seq: ++this.#seq });
    const t = this.o.clock.setTimer(2000, () => child.kill('SIGKILL'), { background: true });
    await exited;
    t.cancel();
  }

  #send(c: GuardCommand): void {
    this.#last = c;
    const child = this.#child;
    if (child && this.#ready) this.#write(child, c);
  }

  #write(child: ChildProcess, c: GuardCommand): void {
    this.#sent.set(c.seq, this.o.clock.now());
    if (this.#sent.size > 64) this.#sent.delete(this.#sent.keys().next().value!);
    child.stdin?.write(encodeCommand(c));
  }

  #spawn(): void {
    const args = [
      '--max-old-space-size=16', this.o.program ?? guardProgram(),
      '--data-dir', this.o.dataDir, '--slack-ms', String(this.o.slackMs ?? 50),
      ...(this.o.device ? ['--device', this.o.device] : []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.#child = child;
    this.#ready = false;
    child.stdin?.on('error', () => undefined);
    createInterface({ input: child.stdout! }).on('line', (l) => this.#onEvent(l));
    createInterface({ input: child.stderr! }).on('line', (l) => this.o.logger.warn({ guard: child.pid }, `fence guard: ${l}`));
    child.on('error', (err) => this.o.logger.error({ err: err.message }, 'fence guard could not start'));
    child.on('exit', (code, signal) => this.#onExit(child, code, signal));
    this.o.logger.info({ guard: child.pid, device: this.o.device, mode: this.o.mode }, 'fence guard started');
  }

  #onEvent(line: string): void {
    const e = parseEvent(line);
    if (!e) return;
    switch (e.kind) {
      case 'ready':
        this.#ready = true;
        this.#deviceTimeoutS = e.deviceTimeoutS;
        for (const w of this.#readyWaiters.splice(0)) w();
        // A restarted guard picks up where the last one was (armed or not).
        if (this.#last && this.#child) this.#write(this.#child, this.#last.kind === 'arm' ? { ...this.#last, seq: ++this.#seq } : this.#last);
        break;
      case 'ok': {
        const at = this.#sent.get(e.seq);
        if (at === undefined) break;
        this.#sent.delete(e.seq);
        const ms = this.o.clock.now() - at;
        this.feeds.count++;
        this.feeds.lastMs = ms;
        this.feeds.totalMs += ms;
        this.feeds.maxMs = Math.max(this.feeds.maxMs, ms);
        break;
      }
      case 'fired':
        this.#fired = e;
        this.#last = { kind: 'disarm', seq: this.#seq };
        this.o.logger.error({ action: 'fence', postmaster: e.pid, killed: e.killed, survivors: e.survivors, ms_after_deadline: Number(e.lateNs) / 1e6 },
          'fence guard: the lease deadline passed unfed; PostgreSQL was killed');
        break;
      case 'device-error':
        if (this.#deviceOk) this.o.logger.error({ device: this.o.device }, `watchdog device failed: ${e.message}`);
        this.#deviceOk = false;
        break;
    }
  }

  #onExit(child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.#child !== child) return;
    this.#ready = false;
    this.#child = null;
    for (const w of this.#readyWaiters.splice(0)) w(new Error(`fence guard exited (${code ?? signal}) before it was ready`));
    if (this.#closing) return;
    const now = this.o.clock.now();
    while (this.#restarts.length > 0 && this.#restarts[0]! < now - 60_000) this.#restarts.shift();
    this.o.logger.error({ code, signal, restarts: this.#restarts.length }, 'fence guard exited; not healthy until it is running again');
    if (this.#restarts.length >= RESTARTS_PER_MINUTE) {
      this.o.logger.error('fence guard keeps exiting; giving up (this node will not run a primary)');
      return;
    }
    this.#restarts.push(now);
    this.#spawn();
  }

  #whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = this.o.clock.setTimer(this.o.readyTimeoutMs ?? 5000, () => done(new Error('fence guard did not start in time')));
      const done = (err?: Error): void => {
        t.cancel();
        if (err) reject(err);
        else resolve();
      };
      this.#readyWaiters.push(done);
    });
  }
}
