// Rule 2: the leader fences itself at t0 + ttl − margin when renewals stop succeeding, without
// waiting for etcd, and never while renewals keep succeeding.
import { systemClock } from '../../../agent/clock.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { LeaseKeeper } from '../../../agent/runtime/lease-keeper.js';
import { fenceMarginMs } from '../../../agent/core/lease.js';
import type { HaSettings } from '../../../agent/core/types.js';

const settings: HaSettings = {
  ttlMs: 3000, loopWaitMs: 1000, retryTimeoutMs: 1000, maximumLagOnFailover: 1, primaryStartTimeoutMs: 1,
  checkTimeline: true, usePgRewind: true, rebuildOnRewindFailure: true, synchronousMode: false, synchronousModeStrict: false,
};

function setup(granted: { ttlMs?: number } = {}) {
  let etcdUp = true;
  let regrant = false;
  let epoch = 1;
  const asked: number[] = [];
  const fenced: number[] = [];
  const clock = { ...systemClock, now: () => Date.now(), wallNow: () => Date.now() };
  const keeper = new LeaseKeeper({
    dcs: {
      renewLease: vi.fn(async (ttlSeconds: number) => {
        asked.push(ttlSeconds);
        const sentAt = clock.now();
        if (!etcdUp) {
          await new Promise((r) => setTimeout(r, settings.retryTimeoutMs));
          throw new Error('etcd timeout');
        }
        const newLease = regrant;
        regrant = false;
        if (newLease) epoch++;
        return { sentAt, newLease, ttlMs: granted.ttlMs ?? ttlSeconds * 1000, epoch };
      }),
    },
    clock,
    logger: pino({ level: 'silent' }),
    settings: () => settings,
    fence: async () => { fenced.push(clock.now()); },
    onNewLease: () => undefined,
  });
  return { keeper, fenced, clock, asked, setEtcd: (up: boolean) => { etcdUp = up; }, regrantNext: () => { regrant = true; } };
}

describe('LeaseKeeper', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 0 }); });
  afterEach(() => { vi.useRealTimers(); });

  it('does not fence while renewals succeed', async () => {
    const { keeper, fenced } = setup();
    keeper.start();
    await keeper.renewNow();
    keeper.arm(true);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fenced).toEqual([]);
    expect(keeper.deadline).toBeGreaterThan(30_000 - settings.ttlMs);
    keeper.stop();
  });

  it('fences at the deadline of the last successful renewal when etcd stops answering', async () => {
    const { keeper, fenced, setEtcd } = setup();
    keeper.start();
    await vi.advanceTimersByTimeAsync(5_000);
    keeper.arm(true);
    const deadline = keeper.deadline!;
    setEtcd(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fenced).toHaveLength(1);
    // Fenced no later than the deadline, which is ttl − margin after the last successful send.
    expect(fenced[0]!).toBeLessThanOrEqual(deadline + settings.ttlMs);
    expect(fenced[0]!).toBeGreaterThanOrEqual(deadline);
    const lastSend = deadline - settings.ttlMs + fenceMarginMs(settings.ttlMs);
    expect(fenced[0]! - lastSend).toBeLessThanOrEqual(settings.ttlMs - fenceMarginMs(settings.ttlMs) + 1000);
    keeper.stop();
  });

  it('fences at once when a renewal had to grant a new lease while primary (the leader key went with the old one)', async () => {
    // Regression (sim writable-after-deadline): the new lease's deadline must not keep a primary
    // that no longer holds the key.
    const { keeper, fenced, regrantNext } = setup();
    keeper.start();
    await keeper.renewNow();
    keeper.arm(true);
    regrantNext();
    expect(await keeper.renewNow()).toBe(true);
    expect(fenced).toHaveLength(1);
    // Not armed (not a primary): a new lease fences nothing.
    keeper.arm(false);
    regrantNext();
    await keeper.renewNow();
    expect(fenced).toHaveLength(1);
    keeper.stop();
  });

  it('does not fence when not armed (not a primary)', async () => {
    const { keeper, fenced, setEtcd } = setup();
    keeper.start();
    await vi.advanceTimersByTimeAsync(1_000);
    setEtcd(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fenced).toEqual([]);
    keeper.stop();
  });

  it('asks etcd for the dynamic ttl and fences by the TTL etcd granted (the ttl hole of issue 10)', async () => {
    // Regression: the lease was granted with the start-up ttl while the deadline used the dynamic
    // one; a primary cut off from etcd served past the moment etcd expired its key.
    const { keeper, fenced, asked, setEtcd, clock } = setup({ ttlMs: 1000 });
    keeper.start();
    const sent = clock.now();
    await keeper.renewNow();
    expect(asked).toEqual([settings.ttlMs / 1000]);
    expect(keeper.deadline).toBe(sent + 1000 - fenceMarginMs(1000));
    keeper.arm(true);
    setEtcd(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fenced).toHaveLength(1);
    expect(fenced[0]).toBeLessThanOrEqual(sent + 1000);
    keeper.stop();
  });
});
