// The probe query (one round-trip) and its mapping to PgView.
import type { Lsn, PgView } from '../core/types.js';
import { parseLsn } from '../core/lsn.js';

/**
 * Everything a probe needs in one statement. pg_is_in_recovery() is read once (materialized) so the
 * primary-only functions are only evaluated on a primary.
 */
export const PROBE_SQL = `
WITH r AS MATERIALIZED (SELECT pg_is_in_recovery() AS rec)
SELECT r.rec AS in_recovery,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_id,
       CASE WHEN r.rec THEN NULL ELSE pg_current_wal_flush_lsn()::text END AS wal_lsn,
       CASE WHEN r.rec THEN NULL ELSE pg_walfile_name(pg_current_wal_flush_lsn()) END AS wal_file,
       pg_last_wal_receive_lsn()::text AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       CASE WHEN r.rec THEN pg_is_wal_replay_paused() ELSE false END AS replay_paused,
       CASE WHEN r.rec THEN pg_last_xact_replay_timestamp()::text ELSE NULL END AS replayed_at,
       w.received_tli AS received_tli,
       w.status AS receiver_status,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
       (SELECT min_recovery_end_timeline FROM pg_control_recovery()) AS min_recovery_tli,
       (SELECT coalesce(bool_or(pending_restart), false) FROM pg_settings) AS pending_restart
  FROM r LEFT JOIN pg_stat_wal_receiver w ON true`;

export interface ProbeRow {
  in_recovery: boolean;
  system_id: string | null;
  wal_lsn: string | null;
  wal_file: string | null;
  received_lsn: string | null;
  replayed_lsn: string | null;
  replay_paused?: boolean | null;
  replayed_at?: string | null;
  received_tli: number | null;
  receiver_status: string | null;
  checkpoint_tli: number | null;
  min_recovery_tli: number | null;
  pending_restart?: boolean | null;
}

/** An LSN as PostgreSQL prints it (0/3000060), or null when absent or unreadable. */
export function lsnOrNull(text: string | null | undefined): Lsn | null {
  if (text === null || text === undefined) return null;
  try {
    return parseLsn(text);
  } catch {
    return null;
  }
}

/** Timeline of a WAL file name: its first 8 hex digits. */
export function timelineOfWalFile(name: string | null): number | null {
  if (!name || !/^[0-9A-F]{24}$/i.test(name)) return null;
  return parseInt(name.slice(0, 8), 16);
}

/** PgView of a running server from one probe row. */
export function viewFromProbe(row: ProbeRow, upstream: string | null): PgView {
  if (!row.in_recovery) {
    return {
      dataDir: 'initialized',
      process: 'running',
      role: 'primary',
      systemId: row.system_id,
      timeline: timelineOfWalFile(row.wal_file) ?? row.checkpoint_tli,
      walLsn: lsnOrNull(row.wal_lsn),
      receivedLsn: null,
      replayedLsn: null,
      upstream: null,
      streaming: false,
      controlState: 'in production', checkpointLsn: null,
      pendingRestart: row.pending_restart === true,
    };
  }
  // Replica: the receiver's timeline when it runs; else the best local knowledge (restartpoint or
  // minimum recovery point, whichever is later).
  const local = Math.max(row.checkpoint_tli ?? 0, row.min_recovery_tli ?? 0);
  return {
    dataDir: 'initialized',
    process: 'running',
    role: 'replica',
    systemId: row.system_id,
    timeline: row.received_tli ?? (local > 0 ? local : null),
    walLsn: null,
    receivedLsn: lsnOrNull(row.received_lsn),
    replayedLsn: lsnOrNull(row.replayed_lsn),
    upstream,
    streaming: row.receiver_status === 'streaming',
    controlState: 'in archive recovery', checkpointLsn: null,
    replayPaused: row.replay_paused === true,
    replayedAt: row.replayed_at ?? null,
    pendingRestart: row.pending_restart === true,
  };
}

/**
 * WAL receiver outcomes in the server log (PostgreSQL 15, English messages). The walsender's
 * refusals below mean the upstream does not have our WAL in its history: our WAL diverged.
 * Any other failure (cannot connect, slot missing, segment removed, timeout) says nothing about
 * divergence, and a start of streaming clears it.
 */
const RECEIVER_DIVERGED = [
  /requested starting point \S+ on timeline \d+ is not in this server's history/,
  /requested starting point \S+ is ahead of the WAL flush position of this server/,
  /highest timeline \d+ of the primary is behind recovery timeline \d+/,
];
const RECEIVER_STREAMING = /started streaming WAL from primary at/;
const RECEIVER_FAILED = /could not connect to the primary server|could not start WAL streaming|could not receive data from WAL stream|terminating walreceiver|replication terminated by primary server/;

/**
 * The last WAL receiver outcome in `log` (the server log since the postmaster started or the
 * upstream changed) is the upstream refusing our WAL as diverged. Lines after it that are not
 * about the WAL receiver do not matter.
 */
export function walRefusedAsDiverged(log: string): boolean {
  let diverged = false;
  for (const line of log.split('\n')) {
    if (RECEIVER_DIVERGED.some((re) => re.test(line))) diverged = true;
    else if (RECEIVER_STREAMING.test(line) || RECEIVER_FAILED.test(line)) diverged = false;
  }
  return diverged;
}

const FORKED_BEHIND_US = /new timeline (\d+) forked off current database system timeline (\d+) before current recovery point/;

/**
 * The replica fetched the history file of the leader's timeline and found that it forked off our
 * timeline BEFORE the point we already replayed (the startup process says so, and waits forever):
 * our WAL diverged, and we are still on `current`, whatever history files pg_wal now holds. The
 * last such message in `log` (since the postmaster started or the upstream changed), or null.
 */
export function timelineForkedBehindUs(log: string): { readonly newTimeline: number; readonly current: number } | null {
  let found: { newTimeline: number; current: number } | null = null;
  for (const line of log.split('\n')) {
    const m = FORKED_BEHIND_US.exec(line);
    if (m) found = { newTimeline: Number(m[1]), current: Number(m[2]) };
  }
  return found;
}
