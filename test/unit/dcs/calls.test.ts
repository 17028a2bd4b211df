// Deadlines and bounded retries of one DCS operation (fake attempts, real timers).
import { describe, expect, test } from 'vitest';
import { EtcdLeaseInvalidError, GRPCDeadlineExceededError, GRPCInternalError, GRPCUnavailableError, isRecoverableError } from 'etcd3';
import { BrokenCircuitError, CircuitState, type CircuitBreakerPolicy } from 'cockatiel';
import { CallRunner, DcsError, faultHandling } from '../../../agent/dcs/calls.js';
import { HALF_OPEN_AFTER_MS, KEEP_CONNECTION_MS, SlowAnswer } from '../../../agent/dcs/host-policy.js';
import { systemClock } from '../../../agent/clock.js';

const runner = (hosts = 1) => new CallRunner(systemClock, hosts);
const never = () => new Promise<never>(() => undefined);

async function timed<T>(p: Promise<T>): Promise<{ ms: number; result: T | undefined; error: unknown }> {
  const t0 = performance.now();
  try {
    const result = await p;
    return { ms: performance.now() - t0, result, error: undefined };
  } catch (error) {
    return { ms: performance.now() - t0, result: undefined, error };
  }
}

describe('CallRunner', () => {
  test('an attempt that never answers rejects at the deadline with kind "timeout"', async () => {
    const r = runner();
    const { ms, error } = await timed(r.run('read', r.budget(300), never, { idempotent: true }));
    expect(error).toBeInstanceOf(DcsError);
    expect((error as DcsError).kind).toBe('timeout');
    expect((error as DcsError).message).toMatch(/^read: no answer from etcd within 300 ms/);
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(400);
  });

  test('each attempt carries a gRPC deadline inside the budget', async () => {
    const r = runner();
    const deadlines: number[] = [];
    const t0 = Date.now();
    await r.run('x', r.budget(400), async (o) => { deadlines.push(o.deadline.getTime()); return 1; }, { idempotent: true });
    expect(deadlines[0]! - t0).toBeLessThanOrEqual(410);
    expect(deadlines[0]! - t0).toBeGreaterThan(350);
  });

  test('with several hosts an attempt gets a share of the budget, so a frozen host does not eat it all', async () => {
    const r = runner(3);
    let n = 0;
    const { result, ms } = await timed(r.run('x', r.budget(900), () => (++n === 1 ? never() : Promise.resolve('ok')), { idempotent: true }));
    expect(result).toBe('ok');
    expect(ms).toBeGreaterThan(280);
    expect(ms).toBeLessThan(500);
  });

  test('a slow but live link stretches the slices: attempts are waited for, not timed out', async () => {
    const r = runner(3);
    const slow = (ms: number) => () => new Promise<string>((res) => setTimeout(() => res('ok'), ms));
    // 400 ms answers: longer than a third of the 1 s budget. The first call may need a retry;
    // once the runner has seen answers take 400 ms, one attempt is given time enough.
    await r.run('warm-up', r.budget(2000), slow(400), { idempotent: true });
    expect(r.smoothedAttemptMs).toBeGreaterThanOrEqual(390);
    let attempts = 0;
    const { result, error } = await timed(r.run('x', r.budget(1000), () => { attempts++; return slow(400)(); }, { idempotent: true }));
    expect(error).toBeUndefined();
    expect(result).toBe('ok');
    expect(attempts).toBe(1);
  });

  test('one slow answer is enough to stretch the next slices', async () => {
    const r = runner(3);
    await r.run('fast', r.budget(1000), async () => 'ok', { idempotent: true });
    const slow = () => new Promise<string>((res) => setTimeout(() => res('ok'), 300));
    await r.run('first slow', r.budget(1000), slow, { idempotent: true }); // fits the 333 ms slice
    expect(r.smoothedAttemptMs).toBeLessThan(100); // smoothing alone lags behind…
    const deadlines: number[] = [];
    const t0 = Date.now();
    await r.run('x', r.budget(1000), (o) => { deadlines.push(o.deadline.getTime() - t0); return slow(); }, { idempotent: true });
    // …but the slice follows the last answer: 2.5 × 300 ms, capped at half the budget (a frozen
    // host picked at random must leave time for another attempt). The default would be 333 ms.
    expect(deadlines[0]).toBeGreaterThanOrEqual(490);
    expect(deadlines[0]).toBeLessThanOrEqual(510);
  });

  test('without successful answers the slices stay short (a frozen host is still left early)', async () => {
    const r = runner(3);
    expect(r.smoothedAttemptMs).toBeNull();
    const deadlines: number[] = [];
    const t0 = Date.now();
    await timed(r.run('x', r.budget(900), (o) => { deadlines.push(o.deadline.getTime() - t0); return never(); }, { idempotent: true }));
    expect(deadlines[0]).toBeLessThan(320);
    expect(r.smoothedAttemptMs).toBeNull();
  });

  test('transport errors are retried within the budget', async () => {
    const r = runner();
    let n = 0;
    const result = await r.run('x', r.budget(1000), async () => {
      if (++n < 4) throw new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED');
      return n;
    }, { idempotent: true });
    expect(result).toBe(4);
  });

  test('retries stop at the budget and name the last error', async () => {
    const r = runner();
    let n = 0;
    const { ms, error } = await timed(r.run('x', r.budget(300), async () => {
      n++;
      throw new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED');
    }, { idempotent: true }));
    expect((error as DcsError).message).toMatch(/ECONNREFUSED/);
    expect(ms).toBeLessThan(350);
    expect(n).toBeGreaterThan(2);
    expect(n).toBeLessThan(20); // paced, not a busy loop
  });

  test('a breaker-blocked call is retried even when not idempotent', async () => {
    const r = runner();
    let n = 0;
    const result = await r.run('x', r.budget(500), async () => {
      if (++n === 1) throw new BrokenCircuitError();
      return 'ok';
    }, { idempotent: false });
    expect(result).toBe('ok');
  });

  test.each([
    ['deadline exceeded', () => new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), 'timeout'],
    ['internal', () => new GRPCInternalError('13 INTERNAL'), 'unavailable'],
  ])('a non-idempotent call is not retried after an ambiguous error (%s)', async (_n, err, kind) => {
    const r = runner();
    let n = 0;
    const { error } = await timed(r.run('claim', r.budget(500), async () => { n++; throw err(); }, { idempotent: false }));
    expect(n).toBe(1);
    expect((error as DcsError).kind).toBe(kind);
  });

  test('etcd refusing the request is not retried', async () => {
    const r = runner();
    let n = 0;
    const { error } = await timed(r.run('put', r.budget(500), async () => {
      n++;
      throw new EtcdLeaseInvalidError('123');
    }, { idempotent: true }));
    expect(n).toBe(1);
    expect((error as DcsError).kind).toBe('no_lease');
  });
});

describe('faultHandling', () => {
  test('one host: no breaker (nowhere else to go)', () => {
    const f = faultHandling(1, systemClock);
    expect((f.host() as Partial<CircuitBreakerPolicy>).state).toBeUndefined();
  });

  test('several hosts: a breaker that opens on one failure and lets a probe through after HALF_OPEN_AFTER_MS', async () => {
    const breaker = faultHandling(3, systemClock).host() as CircuitBreakerPolicy;
    await expect(breaker.execute(() => { throw new GRPCUnavailableError('down'); })).rejects.toThrow(/down/);
    expect(breaker.state).toBe(CircuitState.Open);
    await expect(breaker.execute(() => 'blocked')).rejects.toBeInstanceOf(BrokenCircuitError);
    await new Promise((r) => setTimeout(r, HALF_OPEN_AFTER_MS + 20));
    expect(await breaker.execute(() => 'probe')).toBe('probe');
    expect(breaker.state).toBe(CircuitState.Closed);
    expect(HALF_OPEN_AFTER_MS).toBeLessThanOrEqual(500);
  });

  test.each([1, 3])('%i host(s): a deadline on a host that answered recently keeps its connection; a silent host\'s does not', async (hosts) => {
    let now = 10_000;
    const policy = faultHandling(hosts, { now: () => now }).host();
    // The breaker (several hosts) half-opens on cockatiel's own clock: wait for it for real.
    const halfOpen = () => (hosts > 1 ? new Promise((r) => setTimeout(r, HALF_OPEN_AFTER_MS + 20)) : Promise.resolve());
    const deadline = () => { throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'); };
    // Never answered: the deadline goes to etcd3 as is (it resets the connection: it may be dead).
    await expect(policy.execute(deadline)).rejects.toBeInstanceOf(GRPCDeadlineExceededError);
    await halfOpen();
    expect(await policy.execute(() => 'answer')).toBe('answer');
    // Answered 1 s ago: slow, not gone. A SlowAnswer is not "recoverable" to etcd3: no reset.
    now += 1000;
    const slow = await policy.execute(deadline).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(SlowAnswer);
    expect(isRecoverableError(slow as Error)).toBe(false);
    if (hosts > 1) expect((policy as unknown as CircuitBreakerPolicy).state).toBe(CircuitState.Open); // still steers away
    // Silent for longer than KEEP_CONNECTION_MS: a deadline resets again.
    await halfOpen();
    now += KEEP_CONNECTION_MS;
    await expect(policy.execute(deadline)).rejects.toBeInstanceOf(GRPCDeadlineExceededError);
  });

  test('a SlowAnswer is retried within the budget, as a timeout', async () => {
    const r = runner();
    let n = 0;
    expect(await r.run('x', r.budget(500), async () => {
      if (++n === 1) throw new SlowAnswer('4 DEADLINE_EXCEEDED');
      return n;
    }, { idempotent: true })).toBe(2);
  });

  test('several hosts: a non-transport error does not open the breaker', async () => {
    const breaker = faultHandling(3, systemClock).host() as CircuitBreakerPolicy;
    await expect(breaker.execute(() => { throw new EtcdLeaseInvalidError('1'); })).rejects.toThrow();
    expect(breaker.state).toBe(CircuitState.Closed);
  });
});
