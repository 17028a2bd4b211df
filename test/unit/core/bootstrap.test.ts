// After a failed bootstrap step: is the data directory the cluster already (never remove it), or
// may it go? Regression: sim bootstrap-wipes-committed-cluster (a completion answered late).
import { describe, expect, it } from 'vitest';
import { bootstrapRecord, type BootstrapRecord } from '../../../agent/core/bootstrap.js';
import type { InitializeState } from '../../../agent/core/types.js';

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
