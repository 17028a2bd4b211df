// Process facts from /proc (Linux): liveness, cwd, children. Used to adopt a running postmaster,
// to tell a stale postmaster.pid from a live one, and to clean up after a SIGKILL.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readTextIfExists } from './fsutil.js';

/** postmaster.pid, as the postmaster writes it (see miscinit.c). */
export interface PidFile {
  readonly pid: number;
  readonly dataDir: string;
  readonly port: number | null;
  readonly socketDir: string | null;
  /** Line 8: 'starting' | 'stopping' | 'ready' | 'standby', or null while not yet written. */
  readonly status: string | null;
}

export function parsePidFile(text: string): PidFile | null {
  const lines = text.split('\n');
  const pid = Number((lines[0] ?? '').trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const port = Number((lines[3] ?? '').trim());
  const status = (lines[7] ?? '').trim();
  return {
    pid,
    dataDir: (lines[1] ?? '').trim(),
    port: Number.isInteger(port) && port > 0 ? port : null,
    socketDir: (lines[4] ?? '').trim() || null,
    status: status === '' ? null : status,
  };
}

export async function readPidFile(dataDir: string): Promise<PidFile | null> {
  const text = await readTextIfExists(path.join(dataDir, 'postmaster.pid')).catch(() => null);
  return text === null ? null : parsePidFile(text);
}

/** The process exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

async function realpathOrNull(p: string): Promise<string | null> {
  return fs.realpath(p).catch(() => null);
}

/** A live postgres process whose working directory is `dataDir` (the postmaster chdirs there). */
export async function isPostgresIn(pid: number, dataDir: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  const [comm, cwd, want] = await Promise.all([
    fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => ''),
    fs.readlink(`/proc/${pid}/cwd`).catch(() => null),
    realpathOrNull(dataDir),
  ]);
  return comm.trim() === 'postgres' && cwd !== null && want !== null && cwd === want;
}

export type PidClass = 'dead' | 'ours' | 'foreign' | 'unknown';

/**
 * What the pid of a postmaster.pid is now: gone, a postgres working in `dataDir`, some other
 * process (pid reused), or unknown (alive but /proc does not tell us: never treat as stale).
 */
export async function classifyPid(pid: number, dataDir: string): Promise<PidClass> {
  if (!(await isAlive(pid))) return 'dead';
  const [comm, cwd, want] = await Promise.all([
    fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => null),
    fs.readlink(`/proc/${pid}/cwd`).catch(() => null),
    realpathOrNull(dataDir),
  ]);
  if (comm !== null && comm.trim() !== 'postgres') return 'foreign';
  if (cwd === null || want === null || comm === null) return 'unknown';
  return cwd === want ? 'ours' : 'foreign';
}

async function listPids(): Promise<number[]> {
  const names = await fs.readdir('/proc').catch(() => [] as string[]);
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

/** Every live postgres process (postmaster or orphaned backend) running in `dataDir`. */
export async function postgresProcessesIn(dataDir: string): Promise<number[]> {
  const want = await realpathOrNull(dataDir);
  if (want === null) return [];
  const found: number[] = [];
  for (const pid of await listPids()) {
    const comm = await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'postgres') continue;
    const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => null);
    if (cwd === want && (await isAlive(pid))) found.push(pid);
  }
  return found;
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
