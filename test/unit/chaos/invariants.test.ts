// A checker that cannot fail proves nothing: every checker here is fed a history with the
// violation it exists to catch, and a clean history it must accept.
import { describe, expect, it } from 'vitest';
import {
  checkLostWrites, checkSplitBrain, checkStaleAcks, convergenceTime, failureSummary, stateTimeline,
  type NodeStateSample, type WriteSample,
} from '../../../agent/chaos/invariants.js';

const acks = [
  { id: 1, node: 'a', at: 100 },
  { id: 2, node: 'a', at: 200 },
  { id: 3, node: 'a', at: 300 },
];

describe('checkLostWrites', () => {
  it('catches an acknowledged write missing in synchronous mode', () => {
    const r = checkLostWrites(acks, new Set([1, 3]), 'sync');
    expect(r.ok).toBe(false);
    expect(r.lost).toEqual([2]);
    expect(r.acked).toBe(3);
  });

  it('counts but tolerates the lost tail in asynchronous mode', () => {
    const r = checkLostWrites(acks, [1], 'async');
    expect(r.ok).toBe(true);
    expect(r.lost).toEqual([2, 3]);
  });

  it('passes when every acknowledged write survived (extra unacknowledged rows are fine)', () => {
    expect(checkLostWrites(acks, [1, 2, 3, 4, 5], 'sync')).toEqual({ mode: 'sync', acked: 3, lost: [], ok: true });
  });
});

function samples(node: string, points: Array<[number, boolean]>): WriteSample[] {
  return points.map(([at, writable]) => ({ at, node, writable }));
}

describe('checkSplitBrain', () => {
  it('catches two nodes writable at overlapping times', () => {
    const r = checkSplitBrain([
      ...samples('a', [[0, true], [100, true], [200, true], [300, false]]),
      ...samples('b', [[150, false], [180, true], [260, true], [400, true]]),
    ]);
    expect(r.ok).toBe(false);
    expect(r.windows).toEqual([{ from: 180, to: 200, nodes: ['a', 'b'] }]);
  });

  it('catches a single writable sample inside another node\'s writable run', () => {
    const r = checkSplitBrain([
      ...samples('a', [[0, true], [500, true]]),
      ...samples('c', [[250, true], [260, false]]),
    ]);
    expect(r.windows).toEqual([{ from: 250, to: 250, nodes: ['a', 'c'] }]);
  });

  it('merges overlapping windows of three nodes into one', () => {
    const r = checkSplitBrain([
      ...samples('a', [[0, true], [100, true]]),
      ...samples('b', [[50, true], [150, true]]),
      ...samples('c', [[90, true], [130, true]]),
    ]);
    expect(r.windows).toEqual([{ from: 50, to: 130, nodes: ['a', 'b', 'c'] }]);
  });

  it('keeps separate windows apart', () => {
    const r = checkSplitBrain([
      ...samples('a', [[0, true], [100, true]]),
      ...samples('b', [[50, true], [150, true]]),
      ...samples('c', [[120, true], [130, true]]),
    ]);
    expect(r.windows).toEqual([{ from: 50, to: 100, nodes: ['a', 'b'] }, { from: 120, to: 130, nodes: ['b', 'c'] }]);
  });

  it('passes a clean failover: the old primary refuses before the new one accepts', () => {
    const r = checkSplitBrain([
      ...samples('a', [[0, true], [100, true], [200, false], [300, false]]),
      ...samples('b', [[0, false], [100, false], [200, false], [300, true]]),
    ]);
    expect(r).toEqual({ windows: [], ok: true });
  });

  it('does not count the unknown gap between a writable and a refused sample', () => {
    // a was last seen writable at 100 and refusing at 300; b first accepted at 200.
    const r = checkSplitBrain([
      ...samples('a', [[100, true], [300, false]]),
      ...samples('b', [[200, true]]),
    ]);
    expect(r.ok).toBe(true);
  });
});

describe('checkStaleAcks', () => {
  const promotions = [{ node: 'a', at: 0 }, { node: 'b', at: 250 }];

  it('catches a write acknowledged by the old primary after another node was promoted', () => {
    const r = checkStaleAcks(acks, promotions);
    expect(r.ok).toBe(false);
    expect(r.stale).toEqual([{ id: 3, node: 'a', at: 300, promoted: 'b', promotedAt: 250 }]);
  });

  it('counts an acknowledgement at the very instant of the other promotion as stale', () => {
    expect(checkStaleAcks([{ id: 9, node: 'a', at: 250 }], promotions).ok).toBe(false);
  });

  it('passes when each acknowledgement comes from the latest promoted node', () => {
    const clean = [...acks.slice(0, 2), { id: 3, node: 'b', at: 300 }];
    expect(checkStaleAcks(clean, promotions)).toEqual({ stale: [], ok: true });
  });

  it('accepts the old primary again once it is promoted again', () => {
    const r = checkStaleAcks([{ id: 4, node: 'a', at: 900 }], [...promotions, { node: 'a', at: 800 }]);
    expect(r.ok).toBe(true);
  });
});

function state(at: number, node: string, role: string, streaming = false, upstream?: string | null): NodeStateSample {
  return upstream === undefined ? { at, node, role, streaming } : { at, node, role, streaming, upstream };
}

describe('convergenceTime', () => {
  it('measures from the heal to one primary with every other node streaming', () => {
    const states = [
      state(0, 'a', 'stopped'), state(0, 'b', 'primary'), state(0, 'c', 'replica', false),
      state(1000, 'c', 'replica', true),
      state(2500, 'a', 'replica', true),
    ];
    expect(convergenceTime(states, 500)).toBe(2000);
  });

  it('catches a cluster that never converges: two primaries', () => {
    const states = [
      state(0, 'a', 'primary'), state(0, 'b', 'primary'), state(0, 'c', 'replica', true),
      state(5000, 'c', 'replica', true),
    ];
    expect(convergenceTime(states, 0)).toBeNull();
  });

  it('catches a replica that streams from the wrong upstream', () => {
    const states = [
      state(0, 'a', 'primary'), state(0, 'b', 'replica', true, 'c'), state(0, 'c', 'replica', true, 'a'),
    ];
    expect(convergenceTime(states, 0)).toBeNull();
    expect(convergenceTime([...states, state(700, 'b', 'replica', true, 'a')], 0)).toBe(700);
  });

  it('catches a node that was never observed', () => {
    expect(convergenceTime([state(0, 'a', 'primary')], 0)).toBe(0);
    expect(convergenceTime([state(0, 'a', 'primary'), state(10, 'b', 'stopped')], 0)).toBeNull();
  });

  it('ignores states that converged only before the heal', () => {
    const states = [state(0, 'a', 'primary'), state(0, 'b', 'replica', true), state(200, 'b', 'stopped')];
    expect(convergenceTime(states, 100)).toBeNull();
  });
});

describe('stateTimeline', () => {
  it('lists each node\'s state changes from heal, starting with the state it was in', () => {
    const h = 10_000;
    const states = [
      { at: h - 500, node: 'node2', role: 'replica', streaming: false },
      { at: h - 400, node: 'node1', role: 'primary', streaming: false },
      { at: h + 200, node: 'node2', role: 'replica', streaming: false },
      { at: h + 35_200, node: 'node2', role: 'replica', streaming: true, upstream: 'node1' },
      { at: h + 35_400, node: 'node1', role: 'primary', streaming: false },
      { at: h + 90_000, node: 'node1', role: 'down', streaming: false },
    ];
    expect(stateTimeline(states, h, h + 40_000)).toEqual([
      'node1: primary +0.0 s',
      'node2: replica not streaming +0.0 s → replica streaming from node1 +35.2 s',
    ]);
  });
});

describe('failureSummary', () => {
  it('groups failures by phase and message (numbers blanked), most frequent first', () => {
    const f = (phase: string, error: string) => ({ phase, error });
    expect(failureSummary([
      f('connect', 'timeout expired after 1000 ms'), f('query', 'Connection terminated unexpectedly'),
      f('connect', 'timeout expired after 1001 ms'), f('query', 'Connection terminated unexpectedly'),
      f('query', 'Connection terminated unexpectedly'), f('query', 'read ECONNRESET'),
    ], 2)).toBe('query: Connection terminated unexpectedly ×3; connect: timeout expired after N ms ×2');
    expect(failureSummary([])).toBeNull();
  });
});
