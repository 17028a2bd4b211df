import { describe, expect, it } from 'vitest';
import { parseBasebackupProgress } from '../../../agent/postgres/bootstrap.js';
import { parsePidFile } from '../../../agent/postgres/procfs.js';
import { timelineForkedBehindUs, timelineOfWalFile, viewFromProbe, walRefusedAsDiverged, type ProbeRow } from '../../../agent/postgres/probe.js';
import { rewindOutcome } from '../../../agent/postgres/rewind.js';
import { planSlots } from '../../../agent/postgres/slots.js';
import { scramVerifier } from '../../../agent/postgres/sql.js';

describe('parseBasebackupProgress', () => {
  it.each([
    ['    0/22984 kB (0%), 0/1 tablespace', { doneKb: 0, totalKb: 22984, percent: 0 }],
    ['22984/22984 kB (100%), 1/1 tablespace', { doneKb: 22984, totalKb: 22984, percent: 100 }],
    ['1234/56789 kB (2%), 0/1 tablespace (data/base/1/1259)', { doneKb: 1234, totalKb: 56789, percent: 2 }],
    ['60000/56789 kB (>100%), 0/1 tablespace', { doneKb: 60000, totalKb: 56789, percent: 100 }],
  ])('%s', (line, want) => {
    expect(parseBasebackupProgress(line)).toEqual(want);
  });
  it('ignores other lines', () => {
    expect(parseBasebackupProgress('pg_basebackup: error: connection to server failed')).toBeNull();
    expect(parseBasebackupProgress('waiting for checkpoint')).toBeNull();
  });
});

describe('parsePidFile', () => {
  it('reads pid, data dir, port, socket dir and status', () => {
    expect(parsePidFile('4242\n/data\n1700000000\n5432\n/run/pg\n127.0.0.1\n  5432001     32768\nstandby \n')).toEqual({
      pid: 4242, dataDir: '/data', port: 5432, socketDir: '/run/pg', status: 'standby',
    });
  });
  it('has no status while starting up early, and rejects junk', () => {
    expect(parsePidFile('7\n/data\n')?.status).toBeNull();
    expect(parsePidFile('junk\n')).toBeNull();
    expect(parsePidFile('')).toBeNull();
  });
});

const REPLICA: ProbeRow = {
  in_recovery: true, system_id: '1', wal_lsn: null, wal_file: null, received_lsn: '0/3000148', replayed_lsn: '0/3000100',
  received_tli: 3, receiver_status: 'streaming', checkpoint_tli: 2, min_recovery_tli: 2,
};

describe('viewFromProbe', () => {
  it('maps a primary (timeline from the WAL file name)', () => {
    const v = viewFromProbe({
      in_recovery: false, system_id: '7', wal_lsn: '16/B374D848', wal_file: '0000000200000016000000B3', received_lsn: null,
      replayed_lsn: null, received_tli: null, receiver_status: null, checkpoint_tli: 1, min_recovery_tli: 0,
    }, 'ignored');
    expect(v).toEqual({
      dataDir: 'initialized', process: 'running', role: 'primary', systemId: '7', timeline: 2, walLsn: 0x16b374d848,
      receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState: 'in production', checkpointLsn: null,
    });
  });
  it('maps a streaming replica', () => {
    expect(viewFromProbe(REPLICA, 'b')).toMatchObject({
      role: 'replica', timeline: 3, receivedLsn: 0x3000148, replayedLsn: 0x3000100, upstream: 'b', streaming: true,
      controlState: 'in archive recovery', walLsn: null,
    });
  });
  it('falls back to the local timeline without a WAL receiver', () => {
    const v = viewFromProbe({ ...REPLICA, received_tli: null, receiver_status: null, checkpoint_tli: 1, min_recovery_tli: 2 }, null);
    expect(v).toMatchObject({ timeline: 2, streaming: false });
  });
  it('timelineOfWalFile', () => {
    expect(timelineOfWalFile('0000000A0000000000000001')).toBe(10);
    expect(timelineOfWalFile('nope')).toBeNull();
  });
});

describe('walRefusedAsDiverged', () => {
  // Server log lines as PostgreSQL 15 writes them (default log_line_prefix '%m [%p] ').
  const at = (pid: number, text: string): string => `2026-01-01 00:00:00.000 UTC [${pid}] ${text}`;
  const started = at(1, 'LOG:  started streaming WAL from primary at 0/3000000 on timeline 2');
  const ahead = at(2, 'FATAL:  could not start WAL streaming: ERROR:  requested starting point 0/5000000 is ahead of the WAL flush position of this server 0/4000060');
  const notInHistory = at(3, "FATAL:  could not start WAL streaming: ERROR:  requested starting point 0/8000000 on timeline 1 is not in this server's history");
  const behindRecovery = at(4, 'FATAL:  highest timeline 2 of the primary is behind recovery timeline 3');
  const refused = at(5, 'FATAL:  could not connect to the primary server: connection to server at "10.0.0.1", port 5432 failed: Connection refused');
  const removed = at(6, 'FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 00000002000000000000000A has already been removed');

  it.each([
    ['the upstream says our start point is ahead of its WAL', [started, ahead], true],
    ['the upstream says our start point is not in its history', [notInHistory], true],
    ['the upstream is on an older timeline than ours', [behindRecovery], true],
    ['other lines after the refusal do not matter', [ahead, at(7, 'LOG:  checkpoint starting: time')], true],
    ['streaming started again since', [ahead, started], false],
    ['a later failure that says nothing about divergence (cannot connect)', [ahead, refused], false],
    ['WAL recycled on the upstream: not divergence (a rebuild is not ours to decide here)', [removed], false],
    ['nothing about the WAL receiver', [at(8, 'LOG:  database system is ready to accept read-only connections')], false],
    ['an empty log', [], false],
  ])('%s → %s', (_what, lines, expected) => {
    expect(walRefusedAsDiverged(lines.join('\n'))).toBe(expected);
  });
});

describe('timelineForkedBehindUs', () => {
  // As PostgreSQL 15 logged it in a chaos run: the replica stayed on timeline 9 for good.
  const log = [
    '2026-11-24 04:49:30.683 UTC [31153] LOG:  restarted WAL streaming at 0/4000000 on timeline 9',
    '2026-11-24 04:49:30.683 UTC [31153] LOG:  replication terminated by primary server',
    '2026-11-24 04:49:30.683 UTC [31153] DETAIL:  End of WAL reached on timeline 9 at 0/40E5510.',
    '2026-11-24 04:49:30.683 UTC [22345] LOG:  new timeline 17 forked off current database system timeline 9 before current recovery point 0/40E5588',
    '2026-11-24 04:49:30.683 UTC [22345] LOG:  waiting for WAL to become available at 0/4002000',
  ].join('\n');

  it('finds the fork and the timeline we are still on', () => {
    expect(timelineForkedBehindUs(log)).toEqual({ newTimeline: 17, current: 9 });
  });

  it('is null without such a message (a plain switch to a new timeline is no fork behind us)', () => {
    expect(timelineForkedBehindUs('2026-11-24 04:49:30.683 UTC [1] LOG:  new target timeline is 17')).toBeNull();
    expect(timelineForkedBehindUs('')).toBeNull();
  });
});

describe('rewindOutcome', () => {
  it('distinguishes rewound, not needed and failed', () => {
    expect(rewindOutcome(0, 'pg_rewind: servers diverged at WAL location 0/3000148 on timeline 1\npg_rewind: Done!')).toBe('rewound');
    expect(rewindOutcome(0, 'pg_rewind: source and target cluster are on the same timeline\npg_rewind: no rewind required')).toBe('not_needed');
    expect(rewindOutcome(1, 'pg_rewind: error: could not connect')).toBe('failed');
    expect(rewindOutcome(null, '')).toBe('failed');
  });
});

describe('planSlots', () => {
  it('creates missing, drops inactive unwanted physical slots, keeps active ones and logical slots', () => {
    expect(planSlots(['a', 'b'], [
      { slot_name: 'a', slot_type: 'physical', active: true },
      { slot_name: 'old', slot_type: 'physical', active: false },
      { slot_name: 'busy', slot_type: 'physical', active: true },
      { slot_name: 'cdc', slot_type: 'logical', active: false },
    ])).toEqual({ create: ['b'], drop: ['old'], keep: ['busy'] });
  });
});

describe('scramVerifier', () => {
  it('has PostgreSQL\'s format and depends on password and salt', () => {
    const salt = Buffer.alloc(16, 1);
    const v = scramVerifier('pencil', 4096, salt);
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(scramVerifier('pencil', 4096, salt)).toBe(v);
    expect(scramVerifier('pencil2', 4096, salt)).not.toBe(v);
    expect(scramVerifier('pencil')).not.toBe(v);
  });
});
