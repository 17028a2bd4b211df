// The lease keeper feeds the fence guard (watchdog) rule 2's deadline wherever it (re)schedules its
// own fence timer, disarms it when it stops serving, and fences rather than run a primary whose
// guard cannot fence.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { systemClock } from '../../../agent/clock.js';
import { LeaseKeeper } from '../../../agent/runtime/lease-keeper.js';
import { leaseDeadline } from '../../../agent/core/lease.js';
import type { HaSettings } from '../../../agent/core/types.js';
import type { FenceGuard } from '../../../agent/ports/ports.js';

const settings: HaSettings = {
  ttlMs: 3000, loopWaitMs: 1000, retryTimeoutMs: 1000, maximumLagOnFailover: 1, primaryStartTimeoutMs: 1,
  checkTimeline: true, usePgRewind: true, rebuildOnRewindFailure: true, synchronousMode: false, synchronousModeStrict: false,
};

function setup() {
  const clock = { ...systemClock, now: () => Date.now(), wallNow: () => Date.now() };
  const calls: string[] = [];
  let healthy = true;
  const guard: FenceGuard = {
    arm: (d) => { calls.push(`arm ${d}`); },
    disarm: () => { calls.push('disarm'); },
    healthy: () => healthy,
  };
  const fenced: string[] = [];
  let sent = 0;
  const keeper = new LeaseKeeper({
    dcs: { renewLease: async () => { sent = clock.now(); return { sentAt: sent, newLease: false, ttlMs: 3000, epoch: 1 }; } },
    clock, logger: pino({ level: 'silent' }), settings: () => settings,
    fence: async (why) => { fenced.push(why); }, onNewLease: () => undefined, guard,
  });
  return { keeper, calls, fenced, sentAt: () => sent, setHealthy: (h: boolean) => { healthy = h; } };
}

describe('LeaseKeeper and the fence guard', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 0 }); });
  afterEach(() => { vi.useRealTimers(); });

  it('arms the guard with every new deadline while serving, and disarms it when not', async () => {
    const { keeper, calls, sentAt } = setup();
    keeper.start();
    await keeper.renewNow();
    expect(calls.filter((c) => c.startsWith('arm'))).toEqual([]);
    keeper.arm(true);
    expect(calls.at(-1)).toBe(`arm ${leaseDeadline(sentAt(), 3000)}`);
    await vi.advanceTimersByTimeAsync(750);
    expect(calls.at(-1)).toBe(`arm ${leaseDeadline(sentAt(), 3000)}`);
    expect(sentAt()).toBe(750);
    keeper.arm(false);
    expect(calls.at(-1)).toBe('disarm');
    keeper.arm(true);
    keeper.stop();
    expect(calls.at(-1)).toBe('disarm');
  });

  it('fences instead of feeding a guard that cannot fence, and says it is not ready', async () => {
    const { keeper, fenced, setHealthy } = setup();
    keeper.start();
    await keeper.renewNow();
    keeper.arm(true);
    expect(fenced).toEqual([]);
    expect(keeper.guardReady).toBe(true);
    setHealthy(false);
    expect(keeper.guardReady).toBe(false);
    await vi.advanceTimersByTimeAsync(750);
    expect(fenced).toEqual(['the fence guard (watchdog) is not working']);
    keeper.stop();
  });
});
