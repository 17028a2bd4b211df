// Reaping what a crashed run left behind. A run whose owner (the harness process recorded in
// run.json) is gone may still have processes (if its owner died before it could sweep) and an etcd
// data directory on tmpfs. Runs whose owner is alive — another test process, a demo — are left
// alone, even when they share the base directory.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  findPostmaster, readCmdline, readEnvVar, readStat, signalQuietly, snapshotProcesses, withDescendants,
} from './procfs.js';
import { RUN_ID_ENV, waitGone } from './supervisor.js';

export const RUN_FILE = 'run.json';
export const OWNER_FILE = 'owner.json';
export const SHM_PREFIX = 'pgwarden-run-';

export interface RunRecord {
  readonly runId: string;
  readonly runDir: string;
  readonly ownerPid: number;
  /** /proc start time of the owner (ticks since boot). */
  readonly ownerStartTime: number | null;
  readonly createdAt: string;
  /** etcd data on tmpfs, removed when the run ends. */
  readonly shmDir: string | null;
  readonly dataDirs: readonly string[];
  /** Filled in once known; informative only. */
  readonly [key: string]: unknown;
}

export interface ReapResult {
  readonly runDir: string;
  readonly runId: string;
  readonly killed: number[];
  readonly removed: string[];
}

export function ownerAlive(pid: number, startTime: number | null): boolean {
  const st = readStat(pid);
  if (st === null || st.state === 'Z') return false;
  return startTime === null || st.startTime === startTime;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Processes of the run `runId`: listed in `<runDir>/pids` (cmdline still names the run), carrying
 *  its marker, or postmasters of its data directories; plus all their descendants. */
export function staleRunProcesses(runId: string, runDir: string | null, dataDirs: readonly string[]): Set<number> {
  const snapshot = snapshotProcesses();
  const roots = new Set<number>();
  if (runDir) {
    let lines: string[] = [];
    try {
      lines = readFileSync(join(runDir, 'pids'), 'utf8').split('\n');
    } catch {
      // no pids file: nothing was started
    }
    for (const line of lines) {
      const [pidText, startText] = line.split('\t');
      const pid = Number(pidText);
      if (!Number.isInteger(pid) || pid <= 1) continue;
      const st = readStat(pid);
      if (!st || st.state === 'Z') continue;
      if (startText && Number(startText) !== st.startTime) continue; // pid reused
      if (!readCmdline(pid).includes(runId)) continue; // pid reused by something else
      roots.add(pid);
    }
  }
  for (const st of snapshot) {
    if (st.pid !== process.pid && st.state !== 'Z' && readEnvVar(st.pid, RUN_ID_ENV) === runId) roots.add(st.pid);
  }
  for (const dir of dataDirs) {
    const pm = findPostmaster(dir);
    if (pm !== null) roots.add(pm);
  }
  const all = withDescendants(roots, snapshot);
  all.delete(process.pid);
  return all;
}

/**
 * Kill the processes of every run under `baseDir` whose owner is no longer alive, and remove their
 * tmpfs etcd directories (and orphaned `/dev/shm/pgwarden-run-*` ones). Run directories (logs) stay.
 */
export async function reapStale(baseDir: string, shmRoot = '/dev/shm'): Promise<ReapResult[]> {
  const results: ReapResult[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(baseDir);
  } catch {
    entries = [];
  }
  for (const entry of entries) {
    const runDir = join(baseDir, entry);
    const rec = readJson(join(runDir, RUN_FILE));
    if (!rec || typeof rec.runId !== 'string' || typeof rec.ownerPid !== 'number') continue;
    if (rec.reapedAt) continue;
    const ownerStart = typeof rec.ownerStartTime === 'number' ? rec.ownerStartTime : null;
    if (rec.ownerPid === process.pid || ownerAlive(rec.ownerPid, ownerStart)) continue;
    const dataDirs = Array.isArray(rec.dataDirs) ? rec.dataDirs.filter((d): d is string => typeof d === 'string') : [];
    const pids = staleRunProcesses(rec.runId, runDir, dataDirs);
    for (const pid of pids) signalQuietly(pid, 'SIGKILL');
    await waitGone(pids, 5000);
    const removed: string[] = [];
    if (typeof rec.shmDir === 'string' && rec.shmDir && existsSync(rec.shmDir)) {
      rmSync(rec.shmDir, { recursive: true, force: true });
      removed.push(rec.shmDir);
    }
    try {
      writeFileSync(join(runDir, RUN_FILE), JSON.stringify({ ...rec, reapedAt: new Date().toISOString() }, null, 2));
    } catch {
      // read-only or vanished: nothing else to do
    }
    results.push({ runDir, runId: rec.runId, killed: [...pids], removed });
  }
  // tmpfs directories whose run directory is gone (deleted after a crash, or another base dir).
  let shm: string[] = [];
  try {
    shm = readdirSync(shmRoot).filter((n) => n.startsWith(SHM_PREFIX));
  } catch {
    shm = [];
  }
  for (const name of shm) {
    const dir = join(shmRoot, name);
    const owner = readJson(join(dir, OWNER_FILE));
    if (!owner || typeof owner.ownerPid !== 'number') continue;
    const ownerStart = typeof owner.ownerStartTime === 'number' ? owner.ownerStartTime : null;
    if (owner.ownerPid === process.pid || ownerAlive(owner.ownerPid, ownerStart)) continue;
    const runId = name.slice(SHM_PREFIX.length);
    const pids = staleRunProcesses(runId, null, []);
    for (const pid of pids) signalQuietly(pid, 'SIGKILL');
    await waitGone(pids, 5000);
    rmSync(dir, { recursive: true, force: true });
    results.push({ runDir: dir, runId, killed: [...pids], removed: [dir] });
  }
  return results;
}
