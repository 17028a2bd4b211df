// A LocalCluster's run directory: its id, run.json (who owns the run and where things are), the
// harness's event log (cluster.log), the tmpfs directory for etcd's data, and log tails.
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync, renameSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../log.js';
import { REDACT_PATHS } from '../log.js';
import { RUN_FILE, SHM_PREFIX } from './reap.js';
import type { EventLog } from './supervisor.js';

export function newRunId(): string {
  const d = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${d}-${randomBytes(3).toString('hex')}`;
}

export function secret(): string {
  return randomBytes(12).toString('hex');
}

/** Walks up from this file to the directory holding pgwarden's package.json. */
export function findRepoDir(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'pgwarden') return dir;
    } catch {
      // keep walking
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`LocalCluster: cannot find the pgwarden repository above ${from}; pass repoDir`);
    dir = up;
  }
}

/** The last `lines` lines of a log file, or "(no log)". */
export function tail(file: string, lines = 20): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').filter(Boolean).slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Events go to `file` (cluster.log, once the run dir exists) and to the caller's logger, if any. */
export function eventLog(file: Logger | null, mirror: Logger | undefined): EventLog {
  return {
    debug: (o, m) => { file?.debug(o, m); mirror?.debug(o, m); },
    info: (o, m) => { file?.info(o, m); mirror?.info(o, m); },
    warn: (o, m) => { file?.warn(o, m); mirror?.warn(o, m); },
    error: (o, m) => { file?.error(o, m); mirror?.error(o, m); },
  };
}

/** <runDir>/cluster.log as a synchronous pino destination and the logger writing to it. */
export function openClusterLog(runDir: string, runId: string): { destination: ReturnType<typeof pino.destination>; logger: Logger } {
  const destination = pino.destination({ dest: join(runDir, 'cluster.log'), sync: true });
  const logger = pino({ level: 'debug', base: { run: runId }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
  return { destination, logger };
}

/** /dev/shm/<prefix><runId> when /dev/shm is writable and has room for `etcdCount` members, else null. */
export function chooseShmDir(runId: string, etcdCount: number): string | null {
  try {
    const st = statfsSync('/dev/shm');
    // etcd preallocates a 64 MB WAL segment per member; leave generous headroom.
    if (st.bavail * st.bsize < etcdCount * 256 * 1024 * 1024) return null;
    accessSync('/dev/shm', constants.W_OK);
    return `/dev/shm/${SHM_PREFIX}${runId}`;
  } catch {
    return null;
  }
}

/** Merge `doc` into <runDir>/run.json (atomically: write, then rename). */
export function updateRunFile(runDir: string, doc: (prev: Record<string, unknown>) => Record<string, unknown>): void {
  const file = join(runDir, RUN_FILE);
  let prev: Record<string, unknown> = {};
  try {
    prev = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // first write
  }
  writeFileSync(`${file}.tmp`, JSON.stringify({ ...prev, ...doc(prev) }, null, 2));
  renameSync(`${file}.tmp`, file);
}
