// CallRunner's onRequest hook (feeds pgwarden_etcd_request_duration_seconds): one observation per
// operation, retries included, failed operations too; a throwing observer changes nothing.
import { describe, expect, it } from 'vitest';
import { GRPCUnavailableError } from 'etcd3';
import { systemClock } from '../../../agent/clock.js';
import { CallRunner, DcsError } from '../../../agent/dcs/calls.js';

describe('CallRunner onRequest', () => {
  it('reports each operation once with its name and duration in seconds', async () => {
    let t = 0;
    const clock = { ...systemClock, now: () => t };
    const seen: [string, number][] = [];
    const runner = new CallRunner(clock, 1, (op, s) => seen.push([op, s]));
    let calls = 0;
    await runner.run('read cluster', runner.budget(1000), async () => {
      t += 30;
      if (++calls === 1) throw new GRPCUnavailableError('down');
      return 'ok';
    }, { idempotent: true });
    await expect(runner.run('write config', runner.budget(1000), async () => {
      t += 5;
      throw new Error('rejected by etcd');
    }, { idempotent: false })).rejects.toBeInstanceOf(DcsError);
    expect(calls).toBe(2);
    expect(seen).toEqual([['read cluster', 0.06], ['write config', 0.005]]);
  });

  it('ignores an observer that throws', async () => {
    const runner = new CallRunner({ ...systemClock, now: () => 0 }, 1, () => { throw new Error('boom'); });
    await expect(runner.run('x', runner.budget(100), async () => 42, { idempotent: true })).resolves.toBe(42);
  });
});
