// A simulation that cannot fail proves nothing. Each test plants a defect in the SHIPPED code
// (the runtime, the lease rotation, the decision core, by replacing one export of the real module)
// or in the simulated PostgreSQL, and shows that the invariants catch it within a few seeds.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RunOptions } from './run.js';
import type { LeaseCalls } from '../../agent/dcs/lease-rotation.js';

async function caught(opts: RunOptions = {}, seeds = 20): Promise<Map<string, number>> {
  vi.resetModules();
  const { runSeed } = await import('./run.js');
  const kinds = new Map<string, number>();
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await runSeed(seed, { faultSeconds: 60, ...opts });
    for (const v of r.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
  }
  return kinds;
}

const sum = (kinds: Map<string, number>, ...names: string[]): number => names.reduce((s, n) => s + (kinds.get(n) ?? 0), 0);

describe('the simulation catches a broken runtime', () => {
  afterEach(() => {
    vi.doUnmock('../../agent/runtime/lease-keeper.js');
    vi.doUnmock('../../agent/dcs/lease-rotation.js');
    vi.doUnmock('../../agent/runtime/action-context.js');
    vi.doUnmock('../../agent/core/decide.js');
    vi.resetModules();
  });

  it('a lease keeper whose fence timer is never armed is caught by the lease-deadline and split-brain checks', async () => {
    vi.doMock('../../agent/runtime/lease-keeper.js', async (importOriginal) => {
      const m = await importOriginal<typeof import('../../agent/runtime/lease-keeper.js')>();
      class NeverArmed extends m.LeaseKeeper {
        override arm(): void {}
      }
      return { ...m, LeaseKeeper: NeverArmed };
    });
    expect(sum(await caught(), 'primary-past-deadline', 'split-brain', 'writable-while-other-leads')).toBeGreaterThan(3);
  });

  it('a lease granted with one TTL while the deadline assumes the dynamic one is caught (the ttl hole)', async () => {
    vi.doMock('../../agent/dcs/lease-rotation.js', async (importOriginal) => {
      const m = await importOriginal<typeof import('../../agent/dcs/lease-rotation.js')>();
      // The lease keeps the TTL it was first granted with, but reports the one asked for.
      class FixedTtl extends m.LeaseRotation {
        #first: number | null = null;
        override async renew(calls: LeaseCalls, ttlSeconds: number) {
          this.#first ??= ttlSeconds;
          const r = await super.renew(calls, this.#first);
          return { ...r, ttlMs: ttlSeconds * 1000 };
        }
      }
      return { ...m, LeaseRotation: FixedTtl };
    });
    expect(sum(await caught(), 'deadline-after-lease-expiry')).toBeGreaterThan(0);
  });

  it('a runtime that starts a primary without checking it still holds the key within its lease is caught', async () => {
    vi.doMock('../../agent/runtime/action-context.js', async (importOriginal) => {
      const m = await importOriginal<typeof import('../../agent/runtime/action-context.js')>();
      return { ...m, mayServeAsPrimary: () => true };
    });
    vi.resetModules();
    const { World } = await import('./world.js');
    const { SCENARIOS } = await import('./scenarios.js');
    const kinds = new Map<string, number>();
    for (const name of ['a promotion reached after the lease deadline is not carried out', 'a handover interrupted past the lease deadline never restarts the old primary']) {
      const r = await new World(SCENARIOS.find((x) => x.name === name)!.config).run();
      for (const v of r.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
    }
    expect(sum(kinds, 'split-brain', 'writable-while-other-leads', 'primary-past-deadline', 'promoted-without-key', 'ineligible-promotion')).toBeGreaterThan(0);
  });

  it('a replica that races although the core calls it ineligible is caught by the eligibility check', async () => {
    vi.doMock('../../agent/core/decide.js', async (importOriginal) => {
      const m = await importOriginal<typeof import('../../agent/core/decide.js')>();
      return {
        ...m,
        decide: (...args: Parameters<typeof m.decide>) => {
          const d = m.decide(...args);
          return d.rule === 'leaderless.ineligible' ? { action: { kind: 'race' as const }, reason: `SABOTAGE: racing although ${d.reason}`, rule: 'sabotage.race' } : d;
        },
      };
    });
    expect(sum(await caught(), 'ineligible-promotion')).toBeGreaterThan(0);
  });
});

describe('the simulation catches a broken fence guard', () => {
  it('a guard that is fed but never fires leaves a frozen primary writable: caught by the split-brain and lease-deadline checks', async () => {
    vi.resetModules();
    const { World } = await import('./world.js');
    const { SCENARIOS } = await import('./scenarios.js');
    const s = SCENARIOS.find((x) => x.name === 'old primary frozen past ttl must not be routed to')!;
    const r = await new World({ ...s.config, sabotage: ['guard-never-fires'] }).run();
    const kinds = r.violations.map((v) => v.kind);
    expect(kinds.filter((k) => ['split-brain', 'primary-past-deadline', 'writable-while-other-leads'].includes(k)).length).toBeGreaterThan(0);
    expect(r.stats.guardFences).toBe(0);
  });

  it('random seeds with frozen agents catch it too', async () => {
    expect(sum(await caught({ sabotage: ['guard-never-fires'] }), 'primary-past-deadline', 'split-brain', 'writable-while-other-leads')).toBeGreaterThan(0);
  });
});

describe('the simulation catches a broken PostgreSQL model', () => {
  it('a primary that acknowledges without its synchronous standby is caught losing acknowledged writes', async () => {
    expect(sum(await caught({ synchronousMode: true, sabotage: ['ack-without-standby'] }, 60), 'lost-acked-write')).toBeGreaterThan(0);
  });
});
