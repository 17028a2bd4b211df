// pg_rewind of a stopped former primary against the new primary.
import path from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RewindOutcome, Upstream } from '../ports/ports.js';
import { buildConninfo } from './conf.js';
import { runProgram, tail, type Owner } from './exec.js';
import { withConnection, type ConnConfig } from './sql.js';

export interface RewindParams {
  readonly binDir: string;
  readonly dataDir: string;
  readonly owner: Owner | null;
  readonly from: Upstream;
  readonly superuser: string;
  readonly passfile: string | null;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly clock: Clock;
}

/**
 * pg_rewind errors that no retry can fix: only a rebuild can. Anything else (the source refused
 * the connection or is starting up or shutting down, a timeout, authentication, an error we do
 * not recognise) is treated as transient: the data directory is kept and the rewind retried.
 */
const IMPOSSIBLE: readonly RegExp[] = [
  /could not find common ancestor/i,
  /are from different systems/i,
  /clusters are not compatible with this version of pg_rewind/i,
  /needs to use either data checksums or "?wal_log_hints/i,
  /could not find previous WAL record/i,
  /could not find WAL file .* in (?:the )?target/i,
];

/** Map pg_rewind's exit and output to an outcome ('transient': it may work when tried again). */
export function rewindOutcome(code: number | null, output: string): RewindOutcome | 'transient' {
  if (code !== 0) return IMPOSSIBLE.some((re) => re.test(output)) ? 'failed' : 'transient';
  if (/no rewind required/i.test(output)) return 'not_needed';
  return 'rewound';
}

/** pg_rewind's own error (its first "error:"/"fatal:" line), for logs and the decision's reason. */
export function rewindError(output: string): string {
  const lines = output.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => l.length > 0);
  const err = lines.find((l) => /\b(error|fatal):/i.test(l)) ?? lines.at(-1) ?? 'no output';
  return err.replace(/^pg_rewind:\s*/, '').slice(0, 300);
}

/** A pg_rewind failure that may pass (source unreachable…): the data directory is kept. */
export class TransientRewindError extends Error {}

/**
 * PostgreSQL 15's pg_rewind reads the source's timeline from its control file, which a freshly
 * promoted server only updates at its next checkpoint. Make sure that checkpoint happened.
 */
export async function ensureSourceCheckpoint(conn: ConnConfig, log: Logger, clock: Clock): Promise<void> {
  await withConnection({ ...conn, statement_timeout: 120_000, query_timeout: 125_000 }, clock, async (client) => {
    const r = await client.query<{ rec: boolean; ckpt: number; cur: string | null }>(
      `SELECT pg_is_in_recovery() AS rec,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS ckpt,
              CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS cur`);
    const row = r.rows[0];
    if (!row || row.rec || row.cur === null) return;
    const current = parseInt(row.cur.slice(0, 8), 16);
    if (current > row.ckpt) {
      log.info({ checkpointTimeline: row.ckpt, timeline: current }, 'CHECKPOINT on the rewind source (recently promoted)');
      await client.query('CHECKPOINT');
    }
  });
}

export async function runRewind(p: RewindParams): Promise<RewindOutcome> {
  const source = buildConninfo({ host: p.from.host, port: p.from.port, user: p.superuser, dbname: 'postgres', connect_timeout: 5 });
  const env: Record<string, string> = { PGAPPNAME: 'pgwarden_rewind' };
  if (p.passfile) env.PGPASSFILE = p.passfile;
  p.log.info({ from: p.from.name, host: p.from.host, port: p.from.port }, 'pg_rewind starting');
  const r = await runProgram({
    file: path.join(p.binDir, 'pg_rewind'),
    args: ['-D', p.dataDir, `--source-server=${source}`, '--progress'],
    env, owner: p.owner, timeoutMs: p.timeoutMs, clock: p.clock,
  });
  const output = `${r.stdout}\n${r.stderr}`;
  const outcome = r.timedOut ? 'transient' : rewindOutcome(r.code, output);
  if (outcome === 'transient') {
    const why = r.timedOut ? `timed out after ${Math.round(p.timeoutMs / 1000)} s` : rewindError(r.stderr || output);
    p.log.warn({ from: p.from.name, exit: r.code, signal: r.signal, timedOut: r.timedOut, stderr: tail(r.stderr, 20) }, `pg_rewind failed, may be transient: ${why}`);
    throw new TransientRewindError(`pg_rewind: ${why}`);
  }
  if (outcome === 'failed') {
    p.log.error({ from: p.from.name, exit: r.code, stderr: tail(r.stderr, 20) }, `pg_rewind cannot rewind this data directory: ${rewindError(r.stderr || output)}`);
  } else {
    p.log.info({ from: p.from.name, outcome, ms: Math.round(r.durationMs) }, 'pg_rewind finished');
  }
  return outcome;
}
