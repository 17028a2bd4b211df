// Creating a data dir: initdb (new cluster), pg_basebackup (clone of a member), and the roles a
// freshly initialized primary needs.
import path from 'node:path';
import type pg from 'pg';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Upstream } from '../ports/ports.js';
import type { PgSettings } from './conf.js';
import { runProgram, tail, type Owner } from './exec.js';
import { removeIfExists, writeOwnedFile } from './fsutil.js';
import { quoteIdent, quoteLiteral, scramVerifier } from './sql.js';

export interface InitdbParams {
  readonly binDir: string;
  readonly dataDir: string;
  readonly owner: Owner | null;
  readonly superuser: string;
  readonly password: string | undefined;
  /** Private directory (0700, owned by `owner`) for the temporary password file. */
  readonly scratchDir: string;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly clock: Clock;
}

/**
 * initdb with data checksums (pg_rewind needs them or wal_log_hints), UTF8, and the superuser's
 * password from a 0600 file that is removed afterwards (never on a command line).
 */
export async function runInitdb(p: InitdbParams): Promise<void> {
  const pwfile = path.join(p.scratchDir, `initdb-pw-${process.pid}`);
  const base = [
    '-D', p.dataDir, '--data-checksums', '-U', p.superuser, '--auth-local=trust', '--auth-host=scram-sha-256',
    '--encoding=UTF8',
  ];
  try {
    if (p.password) {
      await writeOwnedFile(pwfile, `${p.password}\n`, 0o600, p.owner);
      base.push(`--pwfile=${pwfile}`);
    }
    // C.UTF-8 where the system has it (glibc ≥ 2.35 always does), plain C otherwise.
    for (const locale of ['C.UTF-8', 'C']) {
      const r = await runProgram({ file: path.join(p.binDir, 'initdb'), args: [...base, `--locale=${locale}`], owner: p.owner, timeoutMs: p.timeoutMs, clock: p.clock });
      if (r.code === 0) {
        p.log.info({ ms: Math.round(r.durationMs), locale }, 'initdb done');
        return;
      }
      const why = r.timedOut ? `timed out after ${p.timeoutMs} ms` : `exit ${r.code ?? r.signal}`;
      const invalidLocale = /invalid locale name/i.test(r.stderr);
      p.log.warn({ why, stderr: tail(r.stderr) }, 'initdb failed');
      await removeIfExists(p.dataDir); // a half-made data dir would block the next attempt
      if (!invalidLocale) throw new Error(`initdb failed (${why}): ${tail(r.stderr)}`);
    }
    throw new Error('initdb failed: neither C.UTF-8 nor C is a valid locale here');
  } finally {
    await removeIfExists(pwfile);
  }
}

export interface BasebackupProgress {
  readonly doneKb: number;
  readonly totalKb: number;
  readonly percent: number;
}

/** One `pg_basebackup -P` status line: "  1234/56789 kB (2%), 0/1 tablespace (…)". */
export function parseBasebackupProgress(line: string): BasebackupProgress | null {
  const m = /(\d+)\/(\d+) kB \((>?)(\d+)%\)/.exec(line);
  if (!m) return null;
  return { doneKb: Number(m[1]), totalKb: Number(m[2]), percent: Number(m[4]) };
}

export interface BasebackupParams {
  readonly binDir: string;
  readonly dataDir: string;
  readonly owner: Owner | null;
  readonly from: Upstream;
  readonly replicationUser: string;
  /** Passfile holding the replication password, or null. */
  readonly passfile: string | null;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly clock: Clock;
}

/** pg_basebackup into an empty data dir; progress logged at most once a second. */
export async function runBasebackup(p: BasebackupParams): Promise<void> {
  let lastLog = -Infinity;
  let last: BasebackupProgress | null = null;
  const args = [
    '-D', p.dataDir, '-h', p.from.host, '-p', String(p.from.port), '-U', p.replicationUser,
    '-X', 'stream', '-c', 'fast', '-P', '-w',
  ];
  const env: Record<string, string> = { PGCONNECT_TIMEOUT: '5', PGAPPNAME: 'pgwarden_basebackup' };
  if (p.passfile) env.PGPASSFILE = p.passfile;
  p.log.info({ from: p.from.name, host: p.from.host, port: p.from.port }, 'pg_basebackup starting');
  const r = await runProgram({
    file: path.join(p.binDir, 'pg_basebackup'), args, env, owner: p.owner, timeoutMs: p.timeoutMs, clock: p.clock,
    onLine: (line) => {
      const prog = parseBasebackupProgress(line);
      if (!prog) return;
      last = prog;
      const t = p.clock.now();
      if (t - lastLog >= 1000) {
        lastLog = t;
        p.log.info({ ...prog, from: p.from.name }, 'pg_basebackup progress');
      }
    },
  });
  if (r.code === 0) {
    p.log.info({ ms: Math.round(r.durationMs), ...(last ?? {}), from: p.from.name }, 'pg_basebackup done');
    return;
  }
  const why = r.timedOut ? `timed out after ${p.timeoutMs} ms` : `exit ${r.code ?? r.signal}`;
  await removeIfExists(p.dataDir);
  throw new Error(`pg_basebackup from ${p.from.name} (${p.from.host}:${p.from.port}) failed (${why}): ${tail(r.stderr)}`);
}

/**
 * On a freshly started primary: give the superuser its password and create (or fix) the
 * replication role. Passwords are sent as SCRAM verifiers, never in clear text.
 */
export async function ensureRoles(client: pg.Client, pgs: PgSettings, log: Logger): Promise<void> {
  const su = pgs.superuser;
  const repl = pgs.replication;
  if (su.password) {
    await client.query(`ALTER ROLE ${quoteIdent(su.username)} WITH PASSWORD ${quoteLiteral(scramVerifier(su.password))}`);
  }
  if (repl.username === su.username) return;
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [repl.username]);
  const pw = repl.password ? ` PASSWORD ${quoteLiteral(scramVerifier(repl.password))}` : '';
  const verb = exists.rowCount ? 'ALTER' : 'CREATE';
  await client.query(`${verb} ROLE ${quoteIdent(repl.username)} WITH REPLICATION LOGIN${pw}`);
  log.info({ role: repl.username, created: verb === 'CREATE' }, 'replication role ready');
}
