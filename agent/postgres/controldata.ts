// pg_controldata: what a stopped data dir says about itself.
import path from 'node:path';
import type { Clock } from '../clock.js';
import type { ControlState, Lsn } from '../core/types.js';
import { runProgram, tail, type Owner } from './exec.js';
import { lsnOrNull } from './probe.js';

export interface ControlData {
  readonly state: ControlState;
  readonly systemId: string | null;
  readonly timeline: number | null;
  readonly checkpointLsn: Lsn | null;
  readonly minRecoveryTimeline: number | null;
  readonly checksumsEnabled: boolean | null;
}

const STATES: readonly ControlState[] = [
  'starting up', 'shut down', 'shut down in recovery', 'shutting down',
  'in crash recovery', 'in archive recovery', 'in production',
];

function toState(text: string | undefined): ControlState {
  const t = (text ?? '').trim();
  return (STATES as readonly string[]).includes(t) ? (t as ControlState) : 'unknown';
}

function toInt(text: string | undefined): number | null {
  if (text === undefined || !/^\d+$/.test(text.trim())) return null;
  return Number(text.trim());
}

/** Parse `pg_controldata` output (run with LC_ALL=C). Unknown or missing fields become null. */
export function parseControlData(output: string): ControlData {
  const fields = new Map<string, string>();
  for (const line of output.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const systemId = fields.get('Database system identifier');
  const checksum = toInt(fields.get('Data page checksum version'));
  return {
    state: toState(fields.get('Database cluster state')),
    systemId: systemId && /^\d+$/.test(systemId) ? systemId : null,
    timeline: toInt(fields.get("Latest checkpoint's TimeLineID")),
    checkpointLsn: lsnOrNull(fields.get('Latest checkpoint location')),
    minRecoveryTimeline: toInt(fields.get("Min recovery ending loc's timeline")),
    checksumsEnabled: checksum === null ? null : checksum > 0,
  };
}

export async function readControlData(
  binDir: string, dataDir: string, owner: Owner | null, clock: Clock, timeoutMs = 5000,
): Promise<ControlData> {
  const r = await runProgram({ file: path.join(binDir, 'pg_controldata'), args: ['-D', dataDir], owner, timeoutMs, clock });
  if (r.code !== 0) throw new Error(`pg_controldata failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${tail(r.stderr)}`);
  return parseControlData(r.stdout);
}
