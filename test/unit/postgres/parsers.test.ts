import { describe, expect, it } from 'vitest';
import { parseBasebackupProgress } from '../../../agent/postgres/bootstrap.js';
import { parsePidFile } from '../../../agent/postgres/procfs.js';
import { postgresComplaint } from '../../../agent/postgres/postmaster.js';
import { timelineForkedBehindUs, timelineOfWalFile, viewFromProbe, walRefusedAsDiverged, type ProbeRow } from '../../../agent/postgres/probe.js';
import { rewindError, rewindOutcome } from '../../../agent/postgres/rewind.js';
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
      pendingRestart: false,
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
  it('distinguishes rewound, not needed, impossible (failed) and transient', () => {
    expect(rewindOutcome(0, 'pg_rewind: servers diverged at WAL location 0/3000148 on timeline 1\npg_rewind: Done!')).toBe('rewound');
    expect(rewindOutcome(0, 'pg_rewind: source and target cluster are on the same timeline\npg_rewind: no rewind required')).toBe('not_needed');
    expect(rewindOutcome(null, '')).toBe('transient');
  });

  it.each([
    ['pg_rewind: error: could not connect to server: connection to server at "127.0.0.1", port 5433 failed: Connection refused', 'transient'],
    ['pg_rewind: error: connection to server at "10.0.0.2", port 5432 failed: FATAL:  the database system is starting up', 'transient'],
    ['pg_rewind: error: connection to server at "10.0.0.2", port 5432 failed: FATAL:  the database system is shutting down', 'transient'],
    ['pg_rewind: error: connection to server at "10.0.0.2", port 5432 failed: timeout expired', 'transient'],
    ['pg_rewind: error: connection to server failed: FATAL:  password authentication failed for user "postgres"', 'transient'],
    ['pg_rewind: error: something nobody has seen before', 'transient'],
    ["pg_rewind: error: could not find common ancestor of the source and target cluster's timelines", 'failed'],
    ['pg_rewind: error: source and target clusters are from different systems', 'failed'],
    ['pg_rewind: error: target server needs to use either data checksums or "wal_log_hints = on"', 'failed'],
    ['pg_rewind: error: could not find previous WAL record at 0/3000028', 'failed'],
  ])('%s → %s', (text, outcome) => {
    expect(rewindOutcome(1, text)).toBe(outcome);
  });

  it('extracts pg_rewind\'s own error line', () => {
    expect(rewindError('pg_rewind: connected to server\npg_rewind: error: could not connect to server: Connection refused\n')).toBe('error: could not connect to server: Connection refused');
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

describe('postgresComplaint (issue 11 item 10)', () => {
  it('reports PostgreSQL\'s own reason for a failed start', () => {
    const log = [
      '--- pgwarden: starting postgres at 2024-01-01T00:00:00.000Z ---',
      '2024-01-01 00:00:00.001 UTC [123] LOG:  starting PostgreSQL 15.5 on x86_64-pc-linux-gnu',
      '2024-01-01 00:00:00.002 UTC [123] LOG:  could not bind IPv4 address "127.0.0.1": Address already in use',
      '2024-01-01 00:00:00.002 UTC [123] HINT:  Is another postmaster already running on port 5432? If not, wait a few seconds and retry.',
      '2024-01-01 00:00:00.003 UTC [123] WARNING:  could not create listen socket for "127.0.0.1"',
      '2024-01-01 00:00:00.003 UTC [123] FATAL:  could not create any TCP/IP sockets',
      '2024-01-01 00:00:00.004 UTC [123] LOG:  database system is shut down',
    ].join('\n');
    expect(postgresComplaint(log)).toBe('could not bind IPv4 address "127.0.0.1": Address already in use; could not create any TCP/IP sockets');
    expect(postgresComplaint('2024 UTC [1] FATAL:  invalid value for parameter "work_mem": "banana"')).toBe('invalid value for parameter "work_mem": "banana"');
    expect(postgresComplaint('')).toBe('no message in the server log');
  });
});
