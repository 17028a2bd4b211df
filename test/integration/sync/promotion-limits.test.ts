// Who may be promoted (rule 4), on one real cluster:
//   1. a `nofailover` node is never promoted, not even as the only replica left (the cluster
//      stays without a primary and the node says why), and never bootstraps the cluster either;
//   2. at equal WAL positions the higher `failover_priority` wins (twice, with different pairs);
//   3. replicas replaying beyond `maximum_lag_on_failover` are not promoted: with no eligible
//      replica the cluster stays without a primary and each replica's /status says why.
// Tags are static config: phase 2 rewrites node3's pgwarden.yml and restarts its agent.
import { describe, expect, it } from 'vitest';
import { sql, withCluster, type LocalCluster, type LocalNode } from '../../harness/index.js';
import { agentLog, direct, otherNodes } from '../cluster/support.js';
import { observeFor, rewriteTags, status, type Status } from './support.js';

const NO_PRIMARY_MS = 8000;

/** Running primaries among the agents that answer. */
async function primaries(cluster: LocalCluster): Promise<string[]> {
  const st = await cluster.statuses(1500);
  return Object.entries(st).filter(([, s]) => s.role === 'primary' && s.state === 'running').map(([n]) => n);
}

/**
 * Waits until every replica has replayed exactly the primary's position and has no more WAL
 * than that (max(received, replayed): the position the race compares). Not `received` alone: a
 * replica that restarted reports the start of the segment it streams from as received until
 * new WAL arrives, which in an idle cluster may be never.
 */
async function caughtUp(cluster: LocalCluster, primary: LocalNode, replicas: readonly LocalNode[]): Promise<number> {
  const probe = async () => {
    const p = await status(cluster, primary);
    const rs = await Promise.all(replicas.map((r) => status(cluster, r)));
    return { at: p.xlog?.location ?? -1, replicas: rs.map((r) => [r.xlog?.received_location, r.xlog?.replayed_location]) };
  };
  const seen = await cluster.waitFor(probe, {
    timeoutMs: 30_000, intervalMs: 250, what: `${replicas.map((r) => r.name).join(', ')} caught up with ${primary.name}`,
    until: (x) => x.at > 0 && x.replicas.every(([rcv, rep]) => rep === x.at && Math.max(rcv ?? -1, rep) === x.at),
  });
  return seen.at;
}

/** The winner's race log line: "healthiest candidate at <lsn> (peers: a=<lsn>, b=unreachable)". */
function raceWon(node: LocalNode, since: number): string | undefined {
  return agentLog(node).filter((l) => l.time >= since && l.rule === 'race.healthiest').map((l) => l.msg).at(-1);
}

describe('promotion limits: nofailover, failover_priority, maximum_lag_on_failover', () => {
  // node3 starts tagged nofailover; node1 and node2 have distinct priorities so that any pair
  // of replicas later differs in priority.
  const cluster = withCluster({
    agents: 3,
    scope: 'itpromo',
    tags: { node1: { failover_priority: 2 }, node2: { failover_priority: 3 }, node3: { nofailover: true } },
    waitReady: { timeoutMs: 120_000 },
  });

  it('never promotes (or bootstraps on) a nofailover node, even as the only replica left', async () => {
    const node3 = cluster.node('node3');
    const { primary } = await cluster.waitUntilReady({ timeoutMs: 120_000 });
    expect(primary.name, 'the nofailover node must not bootstrap the cluster').not.toBe('node3');
    const eligible = otherNodes(cluster, primary).find((n) => n.name !== 'node3')!;
    await cluster.killNode(eligible);
    await caughtUp(cluster, primary, [node3]);
    const since = Date.now();
    await cluster.killNode(primary);
    // node3 notices the leader is gone…
    await cluster.waitFor(() => status(cluster, node3), {
      timeoutMs: 30_000, what: 'node3 to notice there is no leader',
      until: (s) => /^no leader/.test(s.last_decision?.reason ?? ''),
    });
    // …and stays a replica for a good while, saying why.
    const seen = await observeFor(NO_PRIMARY_MS, 250, async () => ({ primaries: await primaries(cluster), st: await status(cluster, node3) }));
    expect(seen.flatMap((x) => x.primaries)).toEqual([]);
    expect(seen.map((x) => x.st.role)).not.toContain('primary');
    const last = seen.at(-1)!.st;
    expect(last.last_decision?.reason).toMatch(/no leader, but I am not eligible: tagged nofailover/);
    expect(agentLog(node3).filter((l) => l.time >= since && (l.action === 'promote' || l.action === 'acquire_leader'))).toEqual([]);

    // The old primary comes back and leads again; then the other node rejoins.
    cluster.startAgent(primary);
    const back = await cluster.waitForPrimary({ timeoutMs: 90_000 });
    expect(back.name).toBe(primary.name);
    cluster.startAgent(eligible);
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
  }, 300_000);

  it('at equal positions the higher failover_priority wins (two failovers)', async () => {
    // node3 becomes a candidate with the highest priority.
    const node3 = cluster.node('node3');
    await cluster.stopAgent(node3);
    rewriteTags(node3, { failover_priority: 5 });
    cluster.startAgent(node3);
    let { primary } = await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
    expect((await status(cluster, node3)).tags).toMatchObject({ nofailover: false, failover_priority: 5 });
    const priority: Record<string, number> = { node1: 2, node2: 3, node3: 5 };

    for (let round = 1; round <= 2; round++) {
      const replicas = otherNodes(cluster, primary);
      const expected = [...replicas].sort((a, b) => priority[b.name]! - priority[a.name]!)[0]!;
      const loser = replicas.find((n) => n !== expected)!;
      const at = await caughtUp(cluster, primary, replicas);
      const since = Date.now();
      await cluster.killNode(primary);
      const next = await cluster.waitForPrimary({ exclude: [primary.name], timeoutMs: 60_000 });
      expect(next.name, `round ${round}: ${expected.name} (priority ${priority[expected.name]}) over ${loser.name} (priority ${priority[loser.name]})`)
        .toBe(expected.name);
      // The winner compared itself with the other replica at the very same position.
      const won = raceWon(next, since) ?? '';
      const m = /^healthiest candidate at (\d+) \(peers: (.*)\)/.exec(won);
      expect(m, `race log of ${next.name}: ${won}`).not.toBeNull();
      expect(m![2]!.split(', '), `${next.name} saw ${loser.name} at its own position`).toContain(`${loser.name}=${m![1]}`);
      // If the other replica raced too, it stood down for the priority.
      const stoodDown = agentLog(loser).filter((l) => l.time >= since && l.rule?.startsWith('race.peer'));
      for (const l of stoodDown) expect(l.rule).toBe('race.peer-priority');
      process.stdout.write(`[promotion-limits] round ${round}: killed ${primary.name}; ${next.name} won at ${m![1]} (caught up at ${at}); ${loser.name} ` +
        `${stoodDown.length ? `stood down: ${stoodDown.at(-1)!.msg}` : 'did not race'}\n`);
      cluster.startAgent(primary);
      primary = next;
      await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
    }
  }, 300_000);

  it('does not promote replicas beyond maximum_lag_on_failover, and says why', async () => {
    const { primary, replicas } = await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
    for (const r of replicas) await direct(cluster, r, 'SELECT pg_wal_replay_pause()');
    await sql(cluster.rwConnString(), 'CREATE TABLE it_promo_lag AS SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 60000) g', [], { timeoutMs: 60_000 });
    // The leader publishes a position more than 4 MB past both paused replays.
    await cluster.waitFor(async () => {
      const p = await status(cluster, primary);
      const rs = await Promise.all(replicas.map((r) => status(cluster, r)));
      return Math.min(...rs.map((r) => (p.xlog?.location ?? 0) - (r.xlog?.replayed_location ?? 0)));
    }, { timeoutMs: 30_000, what: 'replay lag over 4 MB on both replicas', until: (lag) => lag > 4 * 1048576 });
    await cluster.waitFor(async () => {
      const r = await cluster.etcdctl(['get', '--print-value-only', `${cluster.namespace}/${cluster.scope}/status`]);
      const p = await status(cluster, primary);
      return { published: (JSON.parse(r.stdout.trim() || '{}') as { optime?: number }).optime ?? 0, at: p.xlog?.location ?? -1 };
    }, { timeoutMs: 15_000, what: 'the leader to publish its final position', until: (x) => x.published === x.at });
    const since = Date.now();
    await cluster.killNode(primary);
    await cluster.waitFor(() => Promise.all(replicas.map((r) => status(cluster, r))), {
      timeoutMs: 30_000, what: 'both replicas to notice there is no leader',
      until: (ss) => ss.every((s) => /^no leader/.test(s.last_decision?.reason ?? '')),
    });
    const seen = await observeFor(NO_PRIMARY_MS, 250, async () => ({
      primaries: await primaries(cluster),
      st: await Promise.all(replicas.map((r) => status(cluster, r))) as Status[],
    }));
    expect(seen.flatMap((x) => x.primaries), 'no replica may take over').toEqual([]);
    for (const [i, r] of replicas.entries()) {
      const reason = seen.at(-1)!.st[i]!.last_decision?.reason ?? '';
      process.stdout.write(`[promotion-limits] ${r.name} last_decision: ${reason}\n`);
      expect(reason).toMatch(/^no leader, but I am not eligible: replay lag \d+ bytes > maximum_lag_on_failover 1048576$/);
      expect(agentLog(r).filter((l) => l.time >= since && l.action === 'promote')).toEqual([]);
    }
    // Once replay resumes, a replica catches up, becomes eligible and takes over.
    for (const r of replicas) await direct(cluster, r, 'SELECT pg_wal_replay_resume()');
    const next = await cluster.waitForPrimary({ exclude: [primary.name], timeoutMs: 60_000 });
    expect(replicas.map((r) => r.name)).toContain(next.name);
    const rows = await direct<{ n: string }>(cluster, next, 'SELECT count(*) AS n FROM it_promo_lag');
    expect(Number(rows[0]!.n)).toBe(60000);
    cluster.startAgent(primary);
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
  }, 300_000);
});
