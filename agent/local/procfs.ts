// Synchronous /proc helpers. Synchronous on purpose: they also run inside process 'exit' and
// signal handlers, where nothing asynchronous gets a chance to finish.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

export interface ProcStat {
  readonly pid: number;
  /** One letter: R running, S sleeping, T stopped, Z zombie… */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  /** Start time in clock ticks since boot: with the pid, identifies a process across pid reuse. */
  readonly startTime: number;
}

export function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  //  cutime cstime priority nice num_threads itrealvalue starttime …"; comm may hold spaces and ")".
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' ');
  const state = f[0] ?? '?';
  const ppid = Number(f[1]);
  const pgrp = Number(f[2]);
  const startTime = Number(f[19]);
  if (!Number.isFinite(ppid) || !Number.isFinite(startTime)) return null;
  return { pid, state, ppid, pgrp, startTime };
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  const st = readStat(pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X';
}

/** argv joined by spaces ('' when unreadable or gone). */
export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

export function readCwd(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/** The value of one environment variable of another process (null when unreadable or unset). */
export function readEnvVar(pid: number, name: string): string | null {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return null;
  }
  const prefix = `${name}=`;
  for (const entry of raw.split('\0')) {
    if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  }
  return null;
}

export function listPids(): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const n of names) {
    if (/^\d+$/.test(n)) pids.push(Number(n));
  }
  return pids;
}

/** Every process, for tree walks. */
export function snapshotProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const pid of listPids()) {
    const st = readStat(pid);
    if (st) out.push(st);
  }
  return out;
}

/** `roots` plus all their descendants (taken from one snapshot of /proc). */
export function withDescendants(roots: Iterable<number>, snapshot: readonly ProcStat[] = snapshotProcesses()): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of snapshot) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (out.has(pid) || pid <= 1) continue;
    out.add(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

/** process.kill that never throws; resolves whether the signal was delivered. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * The postmaster that owns `dataDir`, from `postmaster.pid` — only if that pid is alive, its
 * working directory is the data directory (the postmaster chdirs there) and it runs `postgres`.
 * Guards against a stale file whose pid now belongs to someone else.
 */
export function findPostmaster(dataDir: string): number | null {
  let first: string | undefined;
  try {
    first = readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0];
  } catch {
    return null;
  }
  const pid = Number(first?.trim());
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return null;
  const cwd = readCwd(pid);
  if (cwd === null || !sameDir(cwd, dataDir)) return null;
  if (!readCmdline(pid).includes('postgres')) return null;
  return pid;
}

function sameDir(a: string, b: string): boolean {
  const strip = (s: string) => s.replace(/\/+$/, '');
  if (strip(a) === strip(b)) return true;
  try {
    return strip(realpathSync(b)) === strip(a);
  } catch {
    return false;
  }
}

/** Synchronous sleep for the few places that cannot await (exit handlers). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * SIGSTOP `pid` and wait (bounded) until every thread of it has actually stopped: kill()
 * returns before delivery, and a multithreaded server can answer a request in between.
 * Returns false if it did not confirm within `timeoutMs`.
 */
export function stopAndConfirm(pid: number, timeoutMs = 1000): boolean {
  if (!signalQuietly(pid, 'SIGSTOP')) return false;
  const until = Date.now() + timeoutMs;
  for (;;) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      return false; // gone
    }
    const stopped = tasks.every((t) => {
      try {
        const text = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
        const state = text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
        return state === 'T' || state === 't' || state === 'Z';
      } catch {
        return true; // thread exited
      }
    });
    if (stopped) return true;
    if (Date.now() >= until) return false;
    sleepSync(1);
  }
}
