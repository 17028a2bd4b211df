// The node's postmaster over time: find (and adopt) a running one, start one and wait until it
// accepts connections (retrying while old processes still hold shared memory), stop it with a
// deadline, and tell listeners when it exits unexpectedly.
import path from 'node:path';
import { sleep, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import {
  Postmaster, StartAborted, findSetpriv, readLogSince, spawnPostmaster, stopPostmaster, waitForOrphans, waitReady,
} from './control.js';
import { tail, type Owner } from './exec.js';
import { exists, removeIfExists } from './fsutil.js';
import type { PgLayout } from './layout.js';
import type { ManagedConf } from './managed-conf.js';
import { classifyPid, postgresProcessesIn, readPidFile } from './procfs.js';
import type { ProbeConnection } from './sql.js';

const SHM_BUSY = /pre-existing shared memory block .* is still in use/;
const MAX_START_ATTEMPTS = 20;

const SEVERE = /\b(?:FATAL|PANIC|ERROR):\s+(.*)$/;
const COULD_NOT = /\bLOG:\s+(could not .*)$/;

/**
 * PostgreSQL's own reason for a failed start, from the server log it wrote while starting: the
 * FATAL/PANIC/ERROR lines and the "could not …" lines before them (e.g. `could not bind IPv4
 * address "127.0.0.1": Address already in use; could not create any TCP/IP sockets`). Falls back
 * to the last lines of the log.
 */
export function postgresComplaint(log: string): string {
  const found: string[] = [];
  for (const line of log.split('\n')) {
    const m = SEVERE.exec(line) ?? COULD_NOT.exec(line);
    const text = m?.[1]?.trim();
    if (text && !found.includes(text)) found.push(text);
  }
  return (found.length > 0 ? found.slice(-4).join('; ') : tail(log, 4) || 'no message in the server log').slice(0, 500);
}

export interface PostmasterTimeouts {
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly immediateStopTimeoutMs: number;
}

export interface PostmasterParts {
  readonly layout: PgLayout;
  readonly conf: ManagedConf;
  readonly binDir: string;
  readonly owner: Owner | null;
  readonly timeouts: PostmasterTimeouts;
  /** Closed whenever the postmaster exits or is stopped. */
  readonly probeConn: ProbeConnection;
  readonly log: Logger;
  readonly clock: Clock;
}

export class PostmasterKeeper {
  #pm: Postmaster | null = null;
  #crashed = false;
  #stopGeneration = 0;
  #lastStopMode: 'fast' | 'immediate' = 'fast';
  readonly #exitListeners: ((code: number | null, signal: string | null) => void)[] = [];
  readonly #p: PostmasterParts;

  constructor(parts: PostmasterParts) {
    this.#p = parts;
  }

  /** The postmaster we started or adopted (alive or not), or null. */
  get pm(): Postmaster | null {
    return this.#pm;
  }

  /** It exited without being asked to. */
  get crashed(): boolean {
    return this.#crashed;
  }

  #attach(pm: Postmaster): void {
    this.#pm = pm;
    void pm.exited.then((info) => {
      this.#p.probeConn.close();
      if (pm.stopRequested || pm.starting) {
        this.#p.log.info({ postmaster: pm.pid, ...info }, 'postgres exited');
        return;
      }
      this.#crashed = true;
      this.#p.log.error({ postmaster: pm.pid, ...info, adopted: pm.adopted }, 'postgres exited unexpectedly');
      for (const listener of this.#exitListeners) {
        try {
          listener(info.code, info.signal);
        } catch (err) {
          this.#p.log.error({ err: (err as Error).message }, 'onUnexpectedExit listener threw');
        }
      }
    });
  }

  /** A live postmaster for our data dir: ours, or one a previous agent left (then adopted). */
  async findRunning(): Promise<Postmaster | null> {
    if (this.#pm?.alive) return this.#pm;
    const dataDir = this.#p.layout.dataDir;
    const pf = await readPidFile(dataDir);
    if (!pf) return null;
    if ((await classifyPid(pf.pid, dataDir)) !== 'ours') return null;
    const pm = new Postmaster(pf.pid, true, 0, this.#p.clock);
    pm.watch(50);
    this.#attach(pm);
    this.#p.log.info({ postmaster: pf.pid }, 'adopted a running postmaster');
    return pm;
  }

  async requireStopped(): Promise<void> {
    if (this.#pm?.alive || (await this.findRunning())) throw new Error('postgres is running; stop it first');
    const rest = await postgresProcessesIn(this.#p.layout.dataDir);
    if (rest.length > 0) throw new Error(`postgres processes ${rest.join(',')} still work in ${this.#p.layout.dataDir}`);
  }

  /** Remove a postmaster.pid whose process is gone (or is now someone else), once no backend is left. */
  async #clearStalePidFile(): Promise<void> {
    const dataDir = this.#p.layout.dataDir;
    const file = path.join(dataDir, 'postmaster.pid');
    if (!(await exists(file))) return;
    const pf = await readPidFile(dataDir);
    if (pf) {
      const cls = await classifyPid(pf.pid, dataDir);
      if (cls === 'ours') throw new Error(`postmaster ${pf.pid} is running`); // caller adopts first
      if (cls === 'unknown') {
        throw new Error(`postmaster.pid names live pid ${pf.pid} that cannot be inspected; refusing to start a second postmaster`);
      }
    }
    await waitForOrphans(dataDir, 5000, this.#p.log, this.#p.clock);
    await removeIfExists(file);
    this.#p.log.info({ stalePid: pf?.pid ?? null }, 'removed stale postmaster.pid');
  }

  /** True once stop() is called after this point (read before start() waits its turn). */
  abortCheck(): () => boolean {
    const gen = this.#stopGeneration;
    return () => gen !== this.#stopGeneration;
  }

  async start(aborted: () => boolean): Promise<void> {
    if (aborted()) throw new StartAborted('start aborted: stop() was called');
    await this.#p.conf.requireInitialized();
    const dataDir = this.#p.layout.dataDir;
    const now = (): number => this.#p.clock.now();
    const deadline = now() + this.#p.timeouts.startTimeoutMs;
    const running = await this.findRunning();
    if (running) {
      this.#crashed = false;
      await waitReady(running, dataDir, deadline, this.#p.clock, aborted);
      return;
    }
    findSetpriv();
    await this.#clearStalePidFile();
    await this.#p.conf.write();
    const logFile = await this.#p.layout.resolveLogFile();
    for (let attempt = 1; ; attempt++) {
      const pm = await spawnPostmaster({ binDir: this.#p.binDir, dataDir, owner: this.#p.owner, logFile, clock: this.#p.clock });
      pm.starting = true;
      this.#attach(pm);
      this.#crashed = false;
      this.#p.log.info({ postmaster: pm.pid, attempt, logFile }, 'postgres spawned, waiting until it accepts connections');
      try {
        await waitReady(pm, dataDir, deadline, this.#p.clock, () => aborted() || pm.stopRequested);
        pm.starting = false;
        this.#p.log.info({ postmaster: pm.pid, ms: Math.round(now() - (deadline - this.#p.timeouts.startTimeoutMs)) }, 'postgres is ready');
        return;
      } catch (err) {
        pm.starting = false;
        if (err instanceof StartAborted) {
          if (pm.alive && !pm.stopRequested) {
            await stopPostmaster(pm, this.#lastStopMode, this.#p.timeouts.immediateStopTimeoutMs, dataDir, this.#p.log);
          }
          throw err;
        }
        if (pm.alive) {
          this.#p.log.warn({ postmaster: pm.pid, timeoutMs: this.#p.timeouts.startTimeoutMs }, 'postgres still not ready at the start deadline; left running');
          throw new Error(`postgres did not become ready within ${this.#p.timeouts.startTimeoutMs} ms (still starting, see ${logFile})`);
        }
        const out = await readLogSince(logFile, pm.logOffset);
        if (SHM_BUSY.test(out) && attempt < MAX_START_ATTEMPTS && now() + 300 < deadline) {
          this.#p.log.warn({ attempt }, 'old postgres processes still hold shared memory; retrying start');
          await sleep(this.#p.clock, 250);
          await waitForOrphans(dataDir, Math.max(0, Math.min(2000, deadline - now())), this.#p.log, this.#p.clock);
          continue;
        }
        const info = await pm.exited;
        this.#p.log.debug({ exit: info.code ?? info.signal, log: tail(out, 12) }, 'postgres exited while starting');
        throw new Error(`postgres could not start (exit ${info.code ?? info.signal}): ${postgresComplaint(out)}`);
      }
    }
  }

  /** Stop the running postmaster (a data-dir operation in progress has none to adopt). */
  async stop(mode: 'fast' | 'immediate', busy: boolean): Promise<void> {
    this.#stopGeneration++;
    this.#lastStopMode = mode;
    const pm = this.#pm?.alive ? this.#pm : (busy ? null : await this.findRunning());
    this.#p.probeConn.close();
    if (!pm) {
      this.#p.log.debug({ mode }, 'stop: postgres is not running');
      return;
    }
    this.#p.log.info({ mode, postmaster: pm.pid }, 'stopping postgres');
    const timeout = mode === 'fast' ? this.#p.timeouts.stopTimeoutMs : this.#p.timeouts.immediateStopTimeoutMs;
    await stopPostmaster(pm, mode, timeout, this.#p.layout.dataDir, this.#p.log);
    this.#p.log.info({ mode, postmaster: pm.pid }, 'postgres stopped');
  }

  onUnexpectedExit(listener: (code: number | null, signal: string | null) => void): void {
    this.#exitListeners.push(listener);
  }
}
