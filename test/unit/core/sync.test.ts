// Rule 5 as a table: the order of unpublish → synchronous_standby_names → publish.
import { describe, expect, it } from 'vitest';
import { planSync, ssnFor, type SyncInput } from '../../../agent/core/sync.js';

const base: SyncInput = {
  enabled: true, strict: false, count: 1, published: [],
  streaming: [{ name: 'b', lsn: 100 }, { name: 'c', lsn: 90 }],
  candidates: new Set(['b', 'c']), pgSync: [],
};

const rows: { situation: string; input: Partial<SyncInput>; unpublish: string[] | null; ssn: string; publish: string[] | null; state: string }[] = [
  { situation: 'fresh: choose the most caught-up, set ssn first, publish nothing yet', input: {},
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: null, state: 'synchronous' },
  { situation: 'PostgreSQL reports b sync: publish it', input: { pgSync: ['b'] },
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: ['b'], state: 'synchronous' },
  { situation: 'steady: b published and sync', input: { published: ['b'], pgSync: ['b'] },
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: null, state: 'synchronous' },
  { situation: 'sticky: c published stays although b is ahead', input: { published: ['c'], pgSync: ['c'] },
    unpublish: null, ssn: 'FIRST 1 ("c")', publish: null, state: 'synchronous' },
  { situation: 'published b stopped streaming: unpublish first, then switch ssn to c', input: { published: ['b'], streaming: [{ name: 'c', lsn: 90 }], pgSync: [] },
    unpublish: [], ssn: 'FIRST 1 ("c")', publish: null, state: 'synchronous' },
  { situation: 'nosync member is never chosen', input: { candidates: new Set(['c']) },
    unpublish: null, ssn: 'FIRST 1 ("c")', publish: null, state: 'synchronous' },
  { situation: 'no standby, non-strict: asynchronous', input: { streaming: [], published: ['b'] },
    unpublish: [], ssn: '', publish: null, state: 'asynchronous' },
  { situation: 'no standby, strict: any standby must confirm', input: { streaming: [], strict: true, published: ['b'] },
    unpublish: [], ssn: '*', publish: null, state: 'waiting' },
  { situation: 'two standbys wanted', input: { count: 2, pgSync: ['b'] },
    unpublish: null, ssn: 'FIRST 2 ("b", "c")', publish: ['b'], state: 'synchronous' },
  { situation: 'mode switched off: unpublish, then asynchronous', input: { enabled: false, published: ['b'] },
    unpublish: [], ssn: '', publish: null, state: 'off' },
];

describe('planSync', () => {
  it.each(rows)('$situation', (row) => {
    const p = planSync({ ...base, ...row.input });
    expect(p.unpublish).toEqual(row.unpublish);
    expect(p.ssn).toBe(row.ssn);
    expect(p.publish).toEqual(row.publish);
    expect(p.state).toBe(row.state);
  });

  it('never publishes a standby that is not in synchronous_standby_names', () => {
    for (const row of rows) {
      const p = planSync({ ...base, ...row.input });
      for (const n of p.publish ?? []) expect(p.chosen).toContain(n);
    }
  });

  it('quotes names as identifiers', () => {
    expect(ssnFor(['a"b', 'node-1'])).toBe('FIRST 2 ("a""b", "node-1")');
  });
});
