// EtcdDcs when etcd misbehaves: frozen (SIGSTOP), killed and restarted, one member of three
// frozen, the whole cluster frozen, the raft leader frozen. Calls must reject within
// retry_timeout, recover within about a second, and the watch must resume without missing changes.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from 'etcd3';
import { ConnectionPool } from 'etcd3/lib/connection-pool.js';
import type { EtcdDcs, EtcdDcsOptions } from '../../../agent/dcs/index.js';
import { EtcdTestCluster } from './etcd-server.js';
import { sleep, systemClock } from '../../../agent/clock.js';
import { waitFor } from '../../../agent/local/wait.js';
import { freshScope, makeDcs, member } from './support.js';

const RETRY_MS = 1000;
/** Timers, event loop and process scheduling on a 2-core CI box. */
const SLACK_MS = 150;

const open: EtcdDcs[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close({ revokeLease: false }).catch(() => undefined)));
});

function track<T extends EtcdDcs>(d: T): T {
  open.push(d);
  return d;
}

/** Resolves how long the call took and whether it failed (never rejects). */
async function timed(p: Promise<unknown>): Promise<{ ms: number; ok: boolean; error?: string }> {
  const t0 = performance.now();
  try {
    await p;
    return { ms: performance.now() - t0, ok: true };
  } catch (e) {
    return { ms: performance.now() - t0, ok: false, error: String(e) };
  }
}

/** Retry `op` until it succeeds; resolves the time from now until then. */
async function recoveryMs(op: () => Promise<unknown>, limitMs: number): Promise<number> {
  const t0 = performance.now();
  await waitFor(async () => { await op(); return true; }, { timeoutMs: limitMs, intervalMs: 0, what: 'the call to succeed again' });
  return performance.now() - t0;
}

describe('one etcd member', () => {
  let etcd: EtcdTestCluster;
  beforeAll(async () => { etcd = await EtcdTestCluster.start(1); });
  afterAll(async () => { await etcd?.stop(); });

  const dcs = (scope: string, name: string, over: Partial<EtcdDcsOptions> = {}) =>
    track(makeDcs(etcd.endpoints, { scope, name, retryTimeoutMs: RETRY_MS, ttlSeconds: 2, ...over }));

  test('frozen: calls reject within retry_timeout; after SIGCONT they work within ~1 s and the expired lease comes back as new', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    await a.renewLease();
    expect(await a.acquireLeader()).toBe(true);
    await a.touchMember(member('a'));
    const seen: string[] = [];
    await b.watch((k) => seen.push(k));
    const { sentAt } = await a.renewLease();

    etcd.node(0).freeze();
    try {
      const results = await Promise.all([
        timed(a.readCluster()), timed(a.renewLease()), timed(a.acquireLeader()),
        timed(a.touchMember(member('a'))), timed(a.writeStatus({ optime: 1, timeline: 1 })), timed(a.claimInitialize()),
      ]);
      for (const r of results) {
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(/DcsError/);
        expect(r.ms).toBeLessThan(RETRY_MS + SLACK_MS);
        expect(r.ms).toBeGreaterThan(RETRY_MS - 50);
      }
      // Stay frozen until our 2 s lease has certainly expired.
      await sleep(systemClock, Math.max(0, sentAt + 2500 - performance.now()));
    } finally {
      etcd.node(0).thaw();
    }

    const recovered = await recoveryMs(() => a.readCluster(), 5000);
    console.log(`single member: readCluster works again ${recovered.toFixed(0)} ms after SIGCONT`);
    expect(recovered).toBeLessThan(1000);
    expect((await a.renewLease()).newLease).toBe(true);

    // The watch survived: it reports the expired leader key, and later changes.
    await waitFor(() => seen.includes('leader'), { timeoutMs: 1500, intervalMs: 10, what: 'the watch to report the expired leader key' });
    await a.setFailover({ candidate: 'b' });
    await waitFor(() => seen.includes('failover'), { timeoutMs: 1000, intervalMs: 10, what: 'the watch to report failover' });
  });

  test('killed and restarted: the watch reconnects and resumes without missing changes; calls work again', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    const seen: string[] = [];
    await b.watch((k) => seen.push(k));
    await a.setFailover({ candidate: 'x' });
    await waitFor(() => seen.length === 1, { timeoutMs: 1000, intervalMs: 10, what: 'the first watch event' });

    await etcd.node(0).kill();
    expect((await timed(a.readCluster())).ms).toBeLessThan(RETRY_MS + SLACK_MS);
    etcd.node(0).start();
    await etcd.node(0).waitHealthy();
    const recovered = await recoveryMs(() => a.setFailover({ candidate: 'y' }), 5000);
    console.log(`restart: writes work again ${recovered.toFixed(0)} ms after etcd reported healthy`);
    expect(recovered).toBeLessThan(1000);
    await a.setFailover(null);
    // Both writes after the restart arrive, in order (the first may have landed before the watch resumed).
    await waitFor(() => seen.length === 3, { timeoutMs: 2000, intervalMs: 10, what: 'the watch to report both writes' });
    expect(seen).toEqual(['failover', 'failover', 'failover']);
  });
});

describe('three etcd members', () => {
  let etcd: EtcdTestCluster;
  let raw: Etcd3[] = [];
  beforeAll(async () => {
    etcd = await EtcdTestCluster.start(3);
    raw = etcd.endpoints.map((url) => new Etcd3({ hosts: url }));
    // etcd3 then tries hosts from the LAST in the list, so a test can aim a client at a member.
    ConnectionPool.deterministicOrder = true;
  });
  afterAll(async () => {
    ConnectionPool.deterministicOrder = false;
    for (const r of raw) r.close();
    await etcd?.stop();
  });

  const dcs = (scope: string, name: string, hosts: string[], ttlSeconds = 3) =>
    track(makeDcs(hosts, { scope, name, retryTimeoutMs: RETRY_MS, ttlSeconds }));

  /** Index of the member that is the raft leader. */
  async function raftLeader(): Promise<number> {
    return waitFor(async () => {
      const st = await Promise.all(raw.map((r) => r.maintenance.status().catch(() => null)));
      return st.findIndex((s) => s !== null && s.leader !== '0' && s.leader === s.header.member_id);
    }, { timeoutMs: 5000, intervalMs: 50, until: (i) => i >= 0, what: 'a raft leader among the etcd members' });
  }

  /** Endpoints ordered so that `first` is tried first. */
  const aimedAt = (first: number): string[] => [...etcd.endpoints.filter((_, i) => i !== first), etcd.endpoints[first]!];

  test('one frozen follower: every call still succeeds within retry_timeout, and a watch on it moves elsewhere', async () => {
    const scope = freshScope();
    const follower = ((await raftLeader()) + 1) % 3;
    const other = (follower + 1) % 3;
    const a = dcs(scope, 'a', aimedAt(follower)); // its first choice will be frozen
    const w = dcs(scope, 'w', aimedAt(follower)); // its watch stream sits on the frozen member
    const writer = dcs(scope, 'writer', aimedAt(other));
    await a.renewLease();
    await a.acquireLeader();
    const seen: string[] = [];
    await w.watch((k) => seen.push(k));

    etcd.node(follower).freeze();
    try {
      let worst = 0;
      for (let i = 0; i < 10; i++) {
        for (const op of [() => a.readCluster(), () => a.renewLease(), () => a.touchMember(member('a')), () => a.acquireLeader()]) {
          const r = await timed(op());
          expect(r).toMatchObject({ ok: true });
          worst = Math.max(worst, r.ms);
        }
      }
      console.log(`one frozen follower: slowest of 40 calls took ${worst.toFixed(0)} ms`);
      expect(worst).toBeLessThan(RETRY_MS);

      // The watch notices its member went quiet and resumes on another one.
      const t0 = performance.now();
      await writer.setFailover({ candidate: 'a' });
      await waitFor(() => seen.includes('failover'), { timeoutMs: 4000, intervalMs: 10, what: 'the watch to report failover' });
      console.log(`watch on the frozen member delivered the change after ${(performance.now() - t0).toFixed(0)} ms`);
    } finally {
      etcd.node(follower).thaw();
    }
  });

  test('whole cluster frozen: calls reject on time; after SIGCONT they work within ~1 s', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a', etcd.endpoints, 10);
    await a.renewLease();
    for (let i = 0; i < 3; i++) etcd.node(i).freeze();
    try {
      for (let i = 0; i < 3; i++) { // enough calls to open every host's breaker
        const r = await timed(a.readCluster());
        expect(r.ok).toBe(false);
        expect(r.ms).toBeLessThan(RETRY_MS + SLACK_MS);
      }
      const r = await timed(a.renewLease());
      expect(r.ok).toBe(false);
      expect(r.ms).toBeLessThan(RETRY_MS + SLACK_MS);
    } finally {
      for (let i = 0; i < 3; i++) etcd.node(i).thaw();
    }
    const recovered = await recoveryMs(() => a.readCluster(), 5000);
    console.log(`three members: readCluster works again ${recovered.toFixed(0)} ms after SIGCONT`);
    expect(recovered).toBeLessThan(1100);
    expect((await a.renewLease()).newLease).toBe(false); // the 10 s lease outlived the 4 s freeze
  });

  test('raft leader frozen: after the election calls succeed again and the lease still holds', async () => {
    const scope = freshScope();
    const leader = await raftLeader();
    const a = dcs(scope, 'a', etcd.endpoints);
    await a.renewLease();
    expect(await a.acquireLeader()).toBe(true);
    etcd.node(leader).freeze();
    try {
      const recovered = await recoveryMs(() => a.renewLease(), 5000);
      console.log(`raft leader frozen: lease renewal works again after ${recovered.toFixed(0)} ms`);
      expect(recovered).toBeLessThan(3000);
      const snap = await a.readCluster();
      expect(snap.leaderIsOurs).toBe(true);
    } finally {
      etcd.node(leader).thaw();
    }
  });
});
