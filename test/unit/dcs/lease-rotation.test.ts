// The lease over its lifetime (rule 2 with a dynamic ttl): what the renewal reports while our keys
// move to a lease with another TTL, against scripted etcd calls.
import { describe, expect, it } from 'vitest';
import { LeaseRotation, type LeaseCalls } from '../../../agent/dcs/lease-rotation.js';

function fakeEtcd() {
  let t = 0;
  let next = 1;
  const leases = new Map<string, number>();
  const log: string[] = [];
  let failRebind = false;
  const calls: LeaseCalls = {
    keepalive: async (id) => {
      const sentAt = (t += 100);
      log.push(`keepalive ${id}`);
      return { sentAt, ttlSeconds: leases.get(id) ?? 0 };
    },
    grant: async (ttl) => {
      const sentAt = (t += 100);
      const id = String(next++);
      leases.set(id, ttl);
      log.push(`grant ${id} ttl=${ttl}`);
      return { sentAt, id, ttlSeconds: ttl };
    },
    rebind: async (from, to) => {
      if (failRebind) throw new Error('deadline exceeded');
      log.push(`rebind ${from}→${to}`);
    },
    revoke: async (id) => {
      leases.delete(id);
      log.push(`revoke ${id}`);
    },
  };
  return { calls, log, leases, failRebindNext: (f: boolean) => { failRebind = f; }, expire: (id: string) => leases.delete(id) };
}

const quiet = { granted: () => undefined, moved: () => undefined, moveFailed: () => undefined };

describe('LeaseRotation', () => {
  it('grants once, then keeps alive; the report carries the granted TTL and the send time', async () => {
    const e = fakeEtcd();
    const r = new LeaseRotation(quiet);
    const first = await r.renew(e.calls, 3);
    expect(first).toEqual({ sentAt: 100, ttlMs: 3000, newLease: true, epoch: 1 });
    const second = await r.renew(e.calls, 3);
    expect(second).toEqual({ sentAt: 200, ttlMs: 3000, newLease: false, epoch: 1 });
    expect(e.log).toEqual(['grant 1 ttl=3', 'keepalive 1']);
  });

  it('a ttl change moves our keys to a lease with the new TTL and revokes the old one', async () => {
    const e = fakeEtcd();
    const r = new LeaseRotation(quiet);
    await r.renew(e.calls, 3);                    // lease 1 at 100
    const granted = await r.renew(e.calls, 10);   // keepalive 1 at 200, grant 2 at 300
    expect(e.log).toEqual(['grant 1 ttl=3', 'keepalive 1', 'grant 2 ttl=10']);
    expect(r.id).toBe('2');
    // The keys are still on lease 1: its expiry (200 + 3 s) still bounds the deadline.
    expect(granted).toMatchObject({ sentAt: 200, ttlMs: 3000, newLease: false });
    const raised = await r.renew(e.calls, 10);    // keepalive 2 at 400, 1 at 500, then the move
    expect(e.log.slice(3)).toEqual(['keepalive 2', 'keepalive 1', 'rebind 1→2', 'revoke 1']);
    expect(raised).toMatchObject({ sentAt: 400, ttlMs: 10_000, newLease: false });
    expect(raised.epoch).toBeGreaterThan(granted.epoch);
    await r.renew(e.calls, 3);                    // keepalive 2 at 600, grant 3 at 700
    const lowered = await r.renew(e.calls, 3);    // keepalive 3 at 800, 2 at 900, move
    expect(lowered).toMatchObject({ sentAt: 800, ttlMs: 3000 });
  });

  it('while the move is not confirmed, both leases are kept alive and the one ending first counts', async () => {
    const e = fakeEtcd();
    const r = new LeaseRotation(quiet);
    await r.renew(e.calls, 10);                 // lease 1, ttl 10, sent at 100
    // keepalive 1 at 200, grant 2 (ttl 3) at 300. Our keys are on lease 1 (until 200 + 10 s),
    // and from the next renewal maybe on lease 2 (until 300 + 3 s): 2 ends first.
    const lowering = await r.renew(e.calls, 3);
    expect(lowering).toMatchObject({ sentAt: 300, ttlMs: 3000 });
    e.failRebindNext(true);
    const again = await r.renew(e.calls, 3);    // keeps both alive; the move fails
    expect(e.log.slice(-2)).toEqual(['keepalive 2', 'keepalive 1']);
    expect(again).toMatchObject({ sentAt: 400, ttlMs: 3000 });
    e.failRebindNext(false);
    const done = await r.renew(e.calls, 3);
    expect(e.log.slice(-2)).toEqual(['rebind 1→2', 'revoke 1']);
    expect(done).toMatchObject({ sentAt: 600, ttlMs: 3000 });
  });

  it('a raised ttl does not count before the keys moved: the short old lease still bounds the deadline', async () => {
    const e = fakeEtcd();
    const r = new LeaseRotation(quiet);
    await r.renew(e.calls, 3);                  // lease 1 at 100
    await r.renew(e.calls, 10);                 // keepalive 1 at 200, grant 2 at 300
    e.failRebindNext(true);
    const raising = await r.renew(e.calls, 10); // keepalive 2 at 400, 1 at 500; the move fails
    expect(raising).toMatchObject({ sentAt: 500, ttlMs: 3000 });
  });

  it('an expired lease is replaced and reported as new (the keys on it are gone)', async () => {
    const e = fakeEtcd();
    const r = new LeaseRotation(quiet);
    const first = await r.renew(e.calls, 3);
    e.expire('1');
    const next = await r.renew(e.calls, 3);
    expect(next.newLease).toBe(true);
    expect(next.epoch).toBeGreaterThan(first.epoch);
    expect(r.id).toBe('2');
  });

  it('renewals run one at a time', async () => {
    const e = fakeEtcd();
    const r = new LeaseRotation(quiet);
    const [a, b] = await Promise.all([r.renew(e.calls, 3), r.renew(e.calls, 3)]);
    expect(e.log).toEqual(['grant 1 ttl=3', 'keepalive 1']);
    expect(b.sentAt).toBeGreaterThan(a.sentAt);
  });
});
