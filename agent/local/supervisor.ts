// Starts, tracks and ends the processes of one local run, and makes sure none outlives it.
//
// Layers of protection against orphans:
//   1. every child is tracked; stop() ends them in order, with deadlines, then SIGKILL;
//   2. children are started through `setpriv --pdeathsig KILL` (also how they drop to the
//      `postgres` user): the kernel kills them if this process dies, even by SIGKILL;
//   3. every child carries LOCALCLUSTER_RUN_ID=<run id> in its environment (inherited by what it
//      starts: pg_ctl, pg_basebackup, the postmaster), and the emergency sweep kills every process
//      carrying it, every postmaster found through our data directories' postmaster.pid, and all
//      their descendants — synchronously, from process 'exit' and signal handlers;
//   4. `<run>/pids` lists every pid started, so a later run can reap a crashed run (reap.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, chownSync, closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import {
  findPostmaster, isAlive, readEnvVar, readStat, signalQuietly, snapshotProcesses, withDescendants,
} from './procfs.js';
import { sleep, systemClock } from '../clock.js';

export const RUN_ID_ENV = 'LOCALCLUSTER_RUN_ID';
export const NODE_ENV_MARKER = 'LOCALCLUSTER_NODE';

/** The few logging calls the harness makes (a pino logger fits). */
export interface EventLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** Looks a user up in /etc/passwd (then `id`), or throws a message saying how to create it. */
export function resolveUser(user: string): RunAs {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === user && f.length >= 7) {
        return { user, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' };
      }
    }
  } catch {
    // fall through to `id`
  }
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status === 0 && gid.status === 0) {
    return { user, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), home: '/' };
  }
  throw new Error(
    `OS user "${user}" does not exist. PostgreSQL refuses to run as root, so when the harness runs as ` +
      `root the agents run as "${user}": create it (useradd --system --create-home ${user}) or run ` +
      `deploy/install-deps.sh as root.`,
  );
}

let setprivPath: string | null | undefined;
/** `setpriv` with --pdeathsig support (util-linux ≥ 2.33), or null. */
export function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const p of ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv']) {
    if (!existsSync(p)) continue;
    const help = spawnSync(p, ['--help'], { encoding: 'utf8', timeout: 5000 });
    if (`${help.stdout}${help.stderr}`.includes('--pdeathsig')) {
      setprivPath = p;
      break;
    }
  }
  return setprivPath;
}

/** Environment variables a child must not inherit from the harness (they would change its behaviour). */
const SCRUB = [/^PGWARDEN_/, /^ETCD_/, /^ETCDCTL_/, /^PG[A-Z]/, /^VITEST/, /^NODE_OPTIONS$/, /^NODE_ENV$/, /^LOCALCLUSTER_/];

export function childEnv(extra: Record<string, string | undefined>, runAs: RunAs | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !SCRUB.some((re) => re.test(k))) env[k] = v;
  }
  if (runAs) {
    env.HOME = runAs.home;
    env.USER = runAs.user;
    env.LOGNAME = runAs.user;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface SpawnSpec {
  /** Short label: "etcd1", "agent node2", "haproxy". */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Drop to this user (only when the harness is root). */
  readonly runAs?: RunAs | null;
  /** Extra marker, e.g. the node name, so one node's processes can be found as a group. */
  readonly node?: string;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Epoch ms. */
  readonly at: number;
}

export class TrackedProcess {
  exitInfo: ExitInfo | null = null;
  /** Set when the harness asked for the exit (stop, kill…); unexpected exits are reported. */
  expectedExit = false;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitInfo>;

  constructor(
    readonly spec: SpawnSpec,
    readonly pid: number,
    /** /proc start time: tells this process apart from a later one that reuses its pid. */
    readonly startTime: number | null,
    child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal, at: Date.now() };
        resolve(this.exitInfo);
      });
    });
  }

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    if (this.exitInfo !== null) return false;
    const st = readStat(this.pid);
    return st !== null && st.state !== 'Z' && (this.startTime === null || st.startTime === this.startTime);
  }

  describeExit(): string {
    const e = this.exitInfo;
    if (!e) return 'running';
    return e.signal ? `killed by ${e.signal}` : `exited with code ${String(e.code)}`;
  }
}

export interface SupervisorOptions {
  readonly runDir: string;
  readonly runId: string;
  readonly log: EventLog;
  /** Data directories whose postmaster belongs to this run. */
  readonly dataDirs: () => readonly string[];
  /** Called when a tracked process exits without the harness having asked for it. */
  readonly onUnexpectedExit?: (p: TrackedProcess) => void;
}

export class ProcessSupervisor {
  readonly #procs: TrackedProcess[] = [];
  readonly #pidsFile: string;

  constructor(readonly opts: SupervisorOptions) {
    this.#pidsFile = `${opts.runDir}/pids`;
  }

  get processes(): readonly TrackedProcess[] {
    return this.#procs;
  }

  spawn(spec: SpawnSpec): TrackedProcess {
    try {
      accessSync(spec.command, constants.X_OK);
    } catch {
      throw new Error(`cannot start ${spec.name}: ${spec.command} is missing or not executable`);
    }
    const runAs = spec.runAs ?? null;
    const setpriv = findSetpriv();
    const wrapper: string[] = [];
    if (setpriv) {
      if (runAs) wrapper.push('--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--init-groups');
      wrapper.push('--pdeathsig', 'KILL', '--');
    }
    const fd = openSync(spec.logFile, 'a', 0o644);
    let child: ChildProcess;
    try {
      if (runAs) chownSync(spec.logFile, runAs.uid, runAs.gid);
      const env = childEnv(
        { ...spec.env, [RUN_ID_ENV]: this.opts.runId, ...(spec.node ? { [NODE_ENV_MARKER]: spec.node } : {}) },
        runAs,
      );
      const command = setpriv ?? spec.command;
      const args = setpriv ? [...wrapper, spec.command, ...spec.args] : [...spec.args];
      child = spawn(command, args, {
        cwd: spec.cwd ?? this.opts.runDir,
        env,
        stdio: ['ignore', fd, fd],
        // Own session: a Ctrl-C in the terminal reaches the harness only, which stops things in order.
        detached: true,
        ...(runAs && !setpriv ? { uid: runAs.uid, gid: runAs.gid } : {}),
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) {
      throw new Error(`cannot start ${spec.name}: spawn ${spec.command} failed`);
    }
    child.on('error', (err) => this.opts.log.error({ proc: spec.name, err: err.message }, 'child process error'));
    child.unref();
    const st = readStat(child.pid);
    const p = new TrackedProcess(spec, child.pid, st?.startTime ?? null, child);
    this.#procs.push(p);
    appendFileSync(this.#pidsFile, `${p.pid}\t${p.startTime ?? ''}\t${spec.name}\n`);
    this.opts.log.info({ proc: spec.name, pid: p.pid, cmd: [spec.command, ...spec.args].join(' '), log: spec.logFile }, 'started');
    void p.exited.then((e) => {
      const level = p.expectedExit ? 'info' : 'warn';
      this.opts.log[level]({ proc: spec.name, pid: p.pid, code: e.code, signal: e.signal, expected: p.expectedExit }, 'exited');
      if (!p.expectedExit) this.opts.onUnexpectedExit?.(p);
    });
    return p;
  }

  /**
   * End one process: SIGCONT (it may be frozen), `signal`, wait up to `timeoutMs`, then SIGKILL it
   * and its descendants. Resolves once it has exited (or after a last bounded wait).
   */
  async terminate(p: TrackedProcess, opts: { signal?: NodeJS.Signals; timeoutMs: number }): Promise<ExitInfo | null> {
    p.expectedExit = true;
    if (!p.running) {
      await Promise.race([p.exited, sleep(systemClock, 1000)]);
      return p.exitInfo;
    }
    signalQuietly(p.pid, 'SIGCONT');
    signalQuietly(p.pid, opts.signal ?? 'SIGTERM');
    if (await exitsWithin(p, opts.timeoutMs)) return p.exitInfo;
    this.opts.log.warn({ proc: p.name, pid: p.pid, afterMs: opts.timeoutMs }, 'did not exit in time: SIGKILL');
    for (const pid of withDescendants([p.pid])) signalQuietly(pid, 'SIGKILL');
    await exitsWithin(p, 5000);
    return p.exitInfo;
  }

  /** Every live process that belongs to this run (see the header), with descendants. */
  runProcesses(filter?: { node?: string }): Set<number> {
    const snapshot = snapshotProcesses();
    const roots = new Set<number>();
    for (const p of this.#procs) {
      if (filter?.node !== undefined && p.spec.node !== filter.node) continue;
      if (p.running) roots.add(p.pid);
    }
    for (const st of snapshot) {
      if (st.pid === process.pid || st.state === 'Z') continue;
      if (readEnvVar(st.pid, RUN_ID_ENV) !== this.opts.runId) continue;
      if (filter?.node !== undefined && readEnvVar(st.pid, NODE_ENV_MARKER) !== filter.node) continue;
      roots.add(st.pid);
    }
    if (filter?.node === undefined) {
      for (const dir of this.opts.dataDirs()) {
        const pm = findPostmaster(dir);
        if (pm !== null) roots.add(pm);
      }
    }
    const all = withDescendants(roots, snapshot);
    all.delete(process.pid);
    return all;
  }

  /** SIGKILL everything of this run, now. Safe to call from 'exit' and signal handlers. */
  killAllSync(): number[] {
    for (const p of this.#procs) p.expectedExit = true;
    const pids = [...this.runProcesses()];
    for (const pid of pids) signalQuietly(pid, 'SIGKILL');
    return pids;
  }
}

async function exitsWithin(p: TrackedProcess, ms: number): Promise<boolean> {
  if (!p.running) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const ok = await Promise.race([p.exited.then(() => true as const), timedOut]);
  clearTimeout(timer);
  return ok || !p.running;
}

/**
 * Wait (bounded) until none of `pids` is alive. Resolves the ones still alive at the deadline.
 * With `reapedWithinMs`, then also wait (that long at most, without failing) for the zombies to be
 * reaped: a zombie still answers kill(pid, 0), so e.g. a new postmaster would take the dead one's
 * postmaster.pid for a live one. (Orphans are reaped by PID 1, which may take its time.)
 */
export async function waitGone(pids: Iterable<number>, timeoutMs: number, opts: { reapedWithinMs?: number } = {}): Promise<number[]> {
  const list = [...pids];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const alive = list.filter(isAlive);
    if (alive.length > 0 && Date.now() < until) {
      await sleep(systemClock, 50);
      continue;
    }
    if (alive.length === 0 && opts.reapedWithinMs) {
      const reapUntil = Date.now() + opts.reapedWithinMs;
      while (list.some((pid) => readStat(pid) !== null) && Date.now() < reapUntil) await sleep(systemClock, 50);
    }
    return alive;
  }
}

// ---------------------------------------------------------------------------------------------
// Last-resort cleanup when the harness process ends without stop(): 'exit' (normal end, uncaught
// exception, process.exit) and SIGINT/SIGTERM/SIGHUP. Installed while at least one run is live.

export interface EmergencyTarget {
  emergencyStop(): void;
}

const live = new Set<EmergencyTarget>();
let signalsWanted = 0;
let installed = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killEverythingSync(): void {
  for (const t of [...live]) {
    try {
      t.emergencyStop();
    } catch {
      // keep going: the next run must still be cleaned up
    }
  }
  live.clear();
}

function onExit(): void {
  killEverythingSync();
}

function onSignal(signal: NodeJS.Signals): void {
  killEverythingSync();
  uninstall();
  // If nobody else handles this signal, let it end the process the way it would have.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

const signalHandlers = new Map<NodeJS.Signals, () => void>(SIGNALS.map((s) => [s, () => onSignal(s)]));

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  if (signalsWanted > 0) for (const [s, h] of signalHandlers) process.on(s, h);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.removeListener('exit', onExit);
  for (const [s, h] of signalHandlers) process.removeListener(s, h);
}

export function registerEmergency(t: EmergencyTarget, opts: { signals: boolean }): () => void {
  if (opts.signals) {
    signalsWanted++;
    if (installed && signalsWanted === 1) for (const [s, h] of signalHandlers) process.on(s, h);
  }
  live.add(t);
  install();
  let done = false;
  return () => {
    if (done) return;
    done = true;
    live.delete(t);
    if (opts.signals) {
      signalsWanted--;
      if (signalsWanted === 0) for (const [s, h] of signalHandlers) process.removeListener(s, h);
    }
    if (live.size === 0) uninstall();
  };
}
