// Rule 5 as a table: the order of unpublish → synchronous_standby_names → publish.
import { describe, expect, it } from 'vitest';
import { planSync, ssnFor, syncBarsPromotion, type SyncInput } from '../../../agent/core/sync.js';
import { cluster } from './builders.js';

const base: SyncInput = {
  enabled: true, strict: false, count: 1, published: [],
  streaming: [{ name: 'b', lsn: 100 }, { name: 'c', lsn: 90 }],
  candidates: new Set(['b', 'c']), pgSync: [], unpromotable: new Set(), caughtUpTo: 0,
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
  // Publish only standbys that hold what was acknowledged before synchronous_standby_names took effect.
  { situation: 'b reported sync but has not replayed the position from after ssn took effect: not published yet', input: { pgSync: ['b'], caughtUpTo: 101 },
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: null, state: 'synchronous' },
  { situation: 'b reported sync and replayed exactly that position: published', input: { pgSync: ['b'], caughtUpTo: 100 },
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: ['b'], state: 'synchronous' },
  { situation: 'position not measured yet (ssn just changed): publish nothing new', input: { pgSync: ['b'], caughtUpTo: null },
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: null, state: 'synchronous' },
  { situation: 'an already published standby stays published whatever the position', input: { published: ['b'], pgSync: ['b'], caughtUpTo: null },
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: null, state: 'synchronous' },
  // Standbys that may never be promoted come last.
  { situation: 'nofailover standby ahead: the promotable one is chosen', input: { unpromotable: new Set(['b']) },
    unpublish: null, ssn: 'FIRST 1 ("c")', publish: null, state: 'synchronous' },
  { situation: 'published nofailover standby yields to a promotable one (unpublish first)', input: { published: ['b'], pgSync: ['b'], unpromotable: new Set(['b']) },
    unpublish: [], ssn: 'FIRST 1 ("c")', publish: null, state: 'synchronous' },
  { situation: 'only a nofailover standby streams: still chosen, commits stay confirmed', input: { streaming: [{ name: 'b', lsn: 100 }], pgSync: ['b'], unpromotable: new Set(['b']) },
    unpublish: null, ssn: 'FIRST 1 ("b")', publish: ['b'], state: 'synchronous' },
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

describe('syncBarsPromotion (the key holder checks the `sync` it is about to take over)', () => {
  const rows: { situation: string; sync: { leader: string; syncStandbys: string[] } | null; failover?: { candidate: string }; bars: RegExp | null }[] = [
    { situation: 'no sync key yet', sync: null, bars: null },
    { situation: 'I am the published standby', sync: { leader: 'a', syncStandbys: ['b'] }, bars: null },
    { situation: 'I am the leader sync names (former primary back)', sync: { leader: 'b', syncStandbys: [] }, bars: null },
    { situation: 'stale race: sync moved on to another standby', sync: { leader: 'a', syncStandbys: ['c'] }, bars: /sync names a, c, not me/ },
    { situation: 'stale race: sync names the old leader alone (it acknowledged commits alone)', sync: { leader: 'a', syncStandbys: [] }, bars: /sync names a, not me/ },
    { situation: "operator's failover names me: allowed", sync: { leader: 'a', syncStandbys: ['c'] }, failover: { candidate: 'b' }, bars: null },
  ];
  it.each(rows)('$situation', (row) => {
    const view = cluster({ leader: 'b', sync: row.sync, failover: row.failover ?? null });
    const why = syncBarsPromotion('b', view);
    if (row.bars === null) expect(why).toBeNull();
    else expect(why).toMatch(row.bars);
  });
});
