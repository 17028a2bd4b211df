// holdFault: the order of a held fault's steps, and the heal on every path.
import { describe, expect, it } from 'vitest';
import { holdFault, type ScenarioContext } from '../../../agent/chaos/scenarios/types.js';

function fakeCtx(events: string[]): ScenarioContext {
  return {
    step: (m: string) => events.push(`step ${m}`),
    faultInjected: () => events.push('faultInjected'),
    healed: () => events.push('healed'),
    sleep: async (ms: number) => { events.push(`sleep ${ms}`); },
  } as unknown as ScenarioContext;
}

describe('holdFault', () => {
  it('marks, injects, runs during, holds, heals, marks the heal; returns what during returned', async () => {
    const events: string[] = [];
    const got = await holdFault(fakeCtx(events), {
      what: 'cut', inject: () => { events.push('inject'); }, heal: () => { events.push('heal'); },
      healedWhat: 'mended', during: async () => { events.push('during'); return 42; }, holdMs: 9,
    });
    expect(got).toBe(42);
    expect(events).toEqual(['step cut', 'faultInjected', 'inject', 'during', 'sleep 9', 'heal', 'step mended', 'healed']);
  });

  it('heals when `during` fails, and does not mark a heal', async () => {
    const events: string[] = [];
    await expect(holdFault(fakeCtx(events), {
      what: 'cut', inject: () => undefined, heal: () => { events.push('heal'); },
      during: async () => { throw new Error('no new primary'); }, holdMs: 9,
    })).rejects.toThrow('no new primary');
    expect(events).toEqual(['step cut', 'faultInjected', 'heal']);
  });

  it('heals when the injection itself fails half-way', async () => {
    const events: string[] = [];
    await expect(holdFault(fakeCtx(events), {
      what: 'cut', inject: () => { throw new Error('iptables failed'); }, heal: () => { events.push('heal'); }, holdMs: 9,
    })).rejects.toThrow('iptables failed');
    expect(events).toEqual(['step cut', 'faultInjected', 'heal']);
  });
});
