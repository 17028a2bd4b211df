// Operator control on a real cluster: planned switchover (named and unnamed candidate) under a
// writer, refused switchovers with their 412/400 bodies, maintenance mode (no failover while
// paused; failover after resume), and SIGTERM on the primary's agent handing over without loss.
import { describe, expect, it } from 'vitest';
import { sql, withCluster, Writer } from '../../harness/index.js';
import { agentLog, direct } from './support.js';

describe('switchover, pause and SIGTERM', () => {
  // node3 may never be promoted.
  const cluster = withCluster({ agents: 3, scope: 'itswitch', tags: { node3: { nofailover: true } }, waitReady: { timeoutMs: 120_000 } });

  it('switches over to a named candidate: no lost write, old primary follows without a rewind', async () => {
    const old = await cluster.waitForPrimary();
    const candidate = cluster.nodes.find((n) => n.name !== old.name && n.name !== 'node3')!;
    const writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50 }).start();
    try {
      await writer.waitForAcks(20, 20_000);
      const res = await cluster.api(old, '/switchover', { method: 'POST', body: { leader: old.name, candidate: candidate.name }, timeoutMs: 40_000 });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect((await cluster.waitForPrimary({ timeoutMs: 10_000 })).name).toBe(candidate.name);
      await writer.waitForAcks(20, 20_000);
    } finally {
      await writer.stop();
    }
    const verify = await writer.verify(cluster.rwConnString());
    expect(verify.lost).toEqual([]);
    const gap = Math.max(...writer.gaps(0).map((g) => g.ms));
    process.stdout.write(`switchover: longest write gap ${Math.round(gap)} ms\n`);
    await cluster.waitUntilReady({ timeoutMs: 30_000, replicas: 2 });
    expect((await cluster.apiStatus(old)).role).toBe('replica');
    const log = agentLog(old);
    expect(log.some((l) => l.rule === 'follower.after-handover')).toBe(true);
    expect(log.some((l) => l.action === 'rewind')).toBe(false);
  });

  it('switches over to an unnamed candidate (never the nofailover node)', async () => {
    const old = await cluster.waitForPrimary();
    const res = await cluster.api(old, '/switchover', { method: 'POST', body: { leader: old.name }, timeoutMs: 40_000 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const next = await cluster.waitForPrimary({ exclude: [old.name], timeoutMs: 10_000 });
    expect(next.name).not.toBe('node3');
    await cluster.waitUntilReady({ timeoutMs: 30_000, replicas: 2 });
  });

  it('refuses switchovers that cannot be done, changing nothing', async () => {
    const leader = await cluster.waitForPrimary();
    const other = cluster.nodes.find((n) => n.name !== leader.name && n.name !== 'node3')!;
    const cases: { body: Record<string, unknown>; status: number; message: RegExp }[] = [
      { body: { leader: leader.name, candidate: 'node3' }, status: 412, message: /node3 does not qualify: tagged nofailover/ },
      { body: { leader: leader.name, candidate: 'nosuchnode' }, status: 412, message: /nosuchnode is not a member/ },
      { body: { leader: leader.name, candidate: leader.name }, status: 400, message: /same member|target and source/ },
      { body: { leader: other.name, candidate: leader.name }, status: 412, message: new RegExp(`leader is ${leader.name}`) },
      { body: { candidate: other.name }, status: 400, message: /leader/ },
      { body: { leader: leader.name, bogus: 1 }, status: 400, message: /bogus|unknown|additional/i },
    ];
    for (const c of cases) {
      const res = await cluster.api(leader, '/switchover', { method: 'POST', body: c.body, timeoutMs: 10_000 });
      expect(res.status, JSON.stringify(c.body)).toBe(c.status);
      expect(JSON.stringify(res.body), JSON.stringify(c.body)).toMatch(c.message);
    }
    // A lagging candidate: replay paused while the primary writes 16 MB.
    await direct(cluster, other, 'SELECT pg_wal_replay_pause()');
    try {
      await sql(cluster.rwConnString(), 'CREATE TABLE it_sw_lag AS SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 60000) g', [], { timeoutMs: 30_000 });
      await cluster.waitFor(() => cluster.api(other, '/cluster'), {
        timeoutMs: 15_000, what: `${other.name} lagging in /cluster`,
        until: (r) => ((r.body as { members?: { name: string; lag?: number }[] }).members ?? []).some((m) => m.name === other.name && (m.lag ?? 0) > 2 * 1048576),
      });
      const res = await cluster.api(leader, '/switchover', { method: 'POST', body: { leader: leader.name, candidate: other.name }, timeoutMs: 10_000 });
      expect(res.status).toBe(412);
      expect(JSON.stringify(res.body)).toMatch(/lag \d+ bytes > maximum_lag_on_failover/);
    } finally {
      await direct(cluster, other, 'SELECT pg_wal_replay_resume()');
    }
    expect((await cluster.waitForPrimary()).name).toBe(leader.name);
  });

  it('does not fail over while paused, and does after resume', async () => {
    const primary = await cluster.waitForPrimary();
    await cluster.waitUntilReady({ timeoutMs: 30_000, replicas: 2 });
    const paused = await cluster.api(primary, '/pause', { method: 'POST', timeoutMs: 5000 });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    await cluster.waitFor(() => cluster.statuses(), {
      timeoutMs: 10_000, what: 'every member reports pause', until: (s) => Object.values(s).length === 3 && Object.values(s).every((x) => x.pause === true),
    });
    await cluster.killNode(primary);
    const until = Date.now() + 8000;
    while (Date.now() < until) {
      const st = await cluster.statuses(500);
      expect(Object.values(st).filter((s) => s.role === 'primary')).toEqual([]);
      await new Promise((r) => setTimeout(r, 250));
    }
    const replica = cluster.nodes.find((n) => n.name !== primary.name)!;
    const resumed = await cluster.api(replica, '/resume', { method: 'POST', timeoutMs: 5000 });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    const next = await cluster.waitForPrimary({ exclude: [primary.name], timeoutMs: 20_000 });
    expect(next.name).not.toBe('node3');
    cluster.startAgent(primary);
    await cluster.waitUntilReady({ timeoutMs: 60_000, replicas: 2 });
  });

  it('SIGTERM on the primary agent hands over without losing an acknowledged write', async () => {
    const old = await cluster.waitForPrimary();
    const writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50 }).start();
    try {
      await writer.waitForAcks(20, 20_000);
      await cluster.stopAgent(old);
      const next = await cluster.waitForPrimary({ exclude: [old.name], timeoutMs: 20_000 });
      expect(next.name).not.toBe('node3');
      await writer.waitForAcks(20, 20_000);
    } finally {
      await writer.stop();
    }
    const verify = await writer.verify(cluster.rwConnString());
    expect(verify.lost).toEqual([]);
    expect(agentLog(old).some((l) => /released the leader key to/.test(l.msg))).toBe(true);
    cluster.startAgent(old);
    await cluster.waitUntilReady({ timeoutMs: 60_000, replicas: 2 });
  });
});
