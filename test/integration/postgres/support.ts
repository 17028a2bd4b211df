// Helpers for the PostgreSQL adapter integration tests: preconditions that fail loudly, free
// ports, temp dirs the postgres OS user can use, and a leftover-process check.
import { accessSync, constants, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import type { AgentConfig } from '../../../agent/config/types.js';
import type { Logger } from '../../../agent/log.js';
import { osUserIds, type Owner } from '../../../agent/postgres/index.js';

export const BIN_DIR = process.env.PGWARDEN_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const BINARIES = ['initdb', 'postgres', 'pg_basebackup', 'pg_rewind', 'pg_controldata'];

/** The tests start PostgreSQL as the `postgres` OS user, which needs root. No silent skip. */
export function requirePreconditions(): Owner {
  if (process.getuid?.() !== 0) throw new Error('these tests must run as root (they start PostgreSQL as the postgres OS user)');
  for (const b of BINARIES) {
    try {
      accessSync(path.join(BIN_DIR, b), constants.X_OK);
    } catch {
      throw new Error(`PostgreSQL binary ${path.join(BIN_DIR, b)} is missing (run deploy/install-deps.sh)`);
    }
  }
  return osUserIds('postgres');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function makeRoot(owner: Owner): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'pgw-pg-'));
  await fs.chown(root, owner.uid, owner.gid);
  await fs.chmod(root, 0o755);
  return root;
}

export const SUPERUSER_PASSWORD = 'su-secret';
/** Quote, colon and backslash: exercises the passfile, conninfo and SQL escaping. */
export const REPLICATION_PASSWORD = "re'pl:pw\\x";

export function pgSettings(root: string, name: string, port: number): AgentConfig['postgresql'] {
  return {
    bin_dir: BIN_DIR,
    data_dir: path.join(root, name, 'data'),
    listen: '127.0.0.1',
    connect_address: `127.0.0.1:${port}`,
    port,
    superuser: { username: 'postgres', password: SUPERUSER_PASSWORD },
    replication: { username: 'replicator', password: REPLICATION_PASSWORD },
    parameters: { fsync: 'off', shared_buffers: '16MB', max_connections: 30, wal_keep_size: '64MB' },
    pg_hba: ['# operator line'],
  };
}

/** Log lines kept in memory (printed by a failing test's message when useful). */
export function testLogger(name: string): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const level = process.env.PGWARDEN_TEST_LOG ?? 'info';
  const stream = {
    write(line: string): void {
      lines.push(line);
      if (process.env.PGWARDEN_TEST_LOG) process.stderr.write(line);
    },
  };
  return { logger: pino({ level, base: { node: name } }, stream), lines };
}

/** Live postgres processes whose working directory is under `root`. */
export async function postgresUnder(root: string): Promise<number[]> {
  const found: number[] = [];
  for (const n of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const comm = await fs.readFile(`/proc/${n}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'postgres') continue;
    const cwd = await fs.readlink(`/proc/${n}/cwd`).catch(() => '');
    if (cwd.startsWith(`${root}/`)) found.push(Number(n));
  }
  return found;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const until = performance.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  config: pg.ClientConfig, text: string, params: unknown[] = [],
): Promise<R[]> {
  const c = new pg.Client({ ...config, connectionTimeoutMillis: 3000, statement_timeout: 10_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}
