// After a failed bootstrap step: is the data directory the cluster already (never remove it), or
// may it go? Regression: sim bootstrap-wipes-committed-cluster (a completion answered late).
import { describe, expect, it } from 'vitest';
import { bootstrapRecord, recoveryRival, type BootstrapRecord } from '../../../agent/core/bootstrap.js';
import { NO_TAGS, type InitializeState, type MemberRecord } from '../../../agent/core/types.js';

const MINE = '7300000000000000001';

describe('bootstrapRecord', () => {
  it.each<[string, InitializeState | null, string | null, BootstrapRecord]>([
    ['etcd records our identifier (the late write landed)', { state: 'done', systemId: MINE }, MINE, 'recorded'],
    ['etcd could not be read', null, MINE, 'unknown'],
    ['our identifier could not be probed, etcd says initialized', { state: 'done', systemId: MINE }, null, 'unknown'],
    ['`initialize` is malformed', { state: 'malformed' }, MINE, 'unknown'],
    ['still a bootstrap claim', { state: 'bootstrapping' }, MINE, 'not_recorded'],
    ['absent (our claim went with our lease)', { state: 'absent' }, MINE, 'not_recorded'],
    ['another identifier', { state: 'done', systemId: '42' }, MINE, 'not_recorded'],
  ])('%s → %s', (_what, initialize, mine, expected) => {
    expect(bootstrapRecord(initialize, mine)).toBe(expected);
  });
});

describe('recoveryRival (re-initializing after etcd lost its data)', () => {
  const m = (name: string, timeline: number | null, p: Partial<MemberRecord> = {}): MemberRecord => ({
    name, apiUrl: '', connUrl: '', host: name, port: 5432, role: 'replica', state: 'running', timeline,
    walLsn: null, receivedLsn: null, replayedLsn: null, tags: NO_TAGS, version: 'x', ...p,
  });
  it.each([
    ['a member further ahead on my timeline', [m('b', 2, { receivedLsn: 900 })], 800, 2, /^b \(timeline 2 at 900/],
    ['a member on a later timeline, even at a lower position', [m('b', 3, { replayedLsn: 100 })], 800, 2, /^b \(timeline 3/],
    ['a primary further ahead (its flushed position)', [m('b', 2, { role: 'primary', walLsn: 801 })], 800, 2, /^b/],
    ['members behind or equal', [m('b', 2, { receivedLsn: 800 }), m('c', 1, { receivedLsn: 5000 })], 800, 2, null],
    ['members that report no position', [m('b', null), m('c', 2)], 800, 2, null],
    ['my own key', [m('a', 9, { receivedLsn: 9999 })], 800, 2, null],
  ])('%s', (_what, members, position, timeline, expected) => {
    const r = recoveryRival(members, 'a', position, timeline);
    if (expected === null) expect(r).toBeNull();
    else expect(r).toMatch(expected);
  });
});
