import { describe, expect, it } from 'vitest';
import { parseControlData } from '../../../agent/postgres/controldata.js';

const SAMPLE = `pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7305812345678901234
Database cluster state:               shut down in recovery
pg_control last modified:             Mon 24 Nov 2025 01:51:40 AM UTC
Latest checkpoint location:           16/B374D848
Latest checkpoint's REDO location:    16/B374D810
Latest checkpoint's REDO WAL file:    0000000200000016000000B3
Latest checkpoint's TimeLineID:       2
Latest checkpoint's PrevTimeLineID:   1
Minimum recovery ending location:     16/B3800000
Min recovery ending loc's timeline:   2
Data page checksum version:           1
`;

describe('parseControlData', () => {
  it('reads state, system id, timeline and checkpoint location', () => {
    expect(parseControlData(SAMPLE)).toEqual({
      state: 'shut down in recovery',
      systemId: '7305812345678901234',
      timeline: 2,
      checkpointLsn: 0x16b374d848,
      minRecoveryTimeline: 2,
      checksumsEnabled: true,
    });
  });

  it.each([
    ['in production'], ['shut down'], ['in crash recovery'], ['in archive recovery'], ['starting up'], ['shutting down'],
  ])('knows the state %s', (state) => {
    expect(parseControlData(`Database cluster state:               ${state}\n`).state).toBe(state);
  });

  it('maps unknown or missing fields to unknown/null', () => {
    expect(parseControlData('Database cluster state: exploding\nLatest checkpoint location: nope\n')).toEqual({
      state: 'unknown', systemId: null, timeline: null, checkpointLsn: null, minRecoveryTimeline: null, checksumsEnabled: null,
    });
    expect(parseControlData('').state).toBe('unknown');
  });

  it('sees disabled checksums', () => {
    expect(parseControlData('Data page checksum version:           0\n').checksumsEnabled).toBe(false);
  });
});
