// Lease renewal bookkeeping (rule 2) against a scripted lease client and a fake clock.
import { describe, expect, test } from 'vitest';
import { EventEmitter } from 'node:events';
import type { LeaseClient } from 'etcd3';
import { systemClock } from '../../../agent/clock.js';
import { CallRunner } from '../../../agent/dcs/calls.js';
import { EtcdLease } from '../../../agent/dcs/lease.js';
import { captureLogger } from '../../harness/capture-log.js';

/** Clock that advances 10 ms on every read, so "read before sending" is visible. */
function stepClock() {
  let t = 1000;
  return { ...systemClock, now: () => (t += 10), peek: () => t };
}

function fakeLeases(script: { grantIds: string[]; keepaliveTtl: number[] }, clock: { peek(): number }) {
  const log: string[] = [];
  const client = {
    async leaseGrant(req: { TTL: number }) {
      log.push(`grant ttl=${req.TTL} at=${clock.peek()}`);
      return { ID: script.grantIds.shift()!, TTL: String(req.TTL), error: '', header: {} };
    },
    async leaseKeepAlive() {
      const s = new EventEmitter() as EventEmitter & { write(x: { ID: string }): void; end(): void; cancel(): void };
      s.write = ({ ID }) => {
        log.push(`keepalive id=${ID} at=${clock.peek()}`);
        const ttl = script.keepaliveTtl.shift()!;
        setImmediate(() => s.emit('data', { ID, TTL: String(ttl), header: {} }));
      };
      s.end = () => undefined;
      s.cancel = () => undefined;
      return s;
    },
    async leaseRevoke({ ID }: { ID: string }) {
      log.push(`revoke id=${ID}`);
      return { header: {} };
    },
  };
  return { client: client as unknown as LeaseClient, log };
}

describe('EtcdLease', () => {
  test('first renewal grants; then keepalives; an expired lease is replaced and reported', async () => {
    const clock = stepClock();
    const { client, log } = fakeLeases({ grantIds: ['11', '12'], keepaliveTtl: [3, 0] }, clock);
    const runner = new CallRunner(clock, 1);
    const lease = new EtcdLease(client, runner, clock, async () => undefined, captureLogger().logger);
    const budget = () => runner.budget(1000);

    const first = await lease.renew(budget(), 3);
    expect(first.newLease).toBe(true);
    expect(lease.id).toBe('11');
    // sentAt was read before the grant went out (the fake logs the clock at send time).
    expect(log[0]).toBe(`grant ttl=3 at=${first.sentAt}`);

    const second = await lease.renew(budget(), 3);
    expect(second).toEqual({ sentAt: expect.any(Number), ttlMs: 3000, newLease: false, epoch: first.epoch });
    expect(second.sentAt).toBeGreaterThan(first.sentAt);
    expect(log[1]).toBe(`keepalive id=11 at=${second.sentAt}`);

    const third = await lease.renew(budget(), 3); // keepalive answers TTL 0: gone
    expect(third.newLease).toBe(true);
    expect(lease.id).toBe('12');
    expect(log[2]).toMatch(/^keepalive id=11 /);
    expect(log[3]).toBe(`grant ttl=3 at=${third.sentAt}`); // sentAt is the grant's, not the failed keepalive's

    await lease.revoke(budget());
    expect(lease.id).toBeNull();
    expect(log.at(-1)).toBe('revoke id=12');
  });

  test('lost() forgets only the lease it names', async () => {
    const clock = stepClock();
    const { client } = fakeLeases({ grantIds: ['21'], keepaliveTtl: [] }, clock);
    const lease = new EtcdLease(client, new CallRunner(clock, 1), clock, async () => undefined, captureLogger().logger);
    await lease.renew(new CallRunner(clock, 1).budget(1000), 3);
    lease.lost('20');
    expect(lease.id).toBe('21');
    lease.lost('21');
    expect(lease.id).toBeNull();
  });
});
