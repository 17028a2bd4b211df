// Strict and non-strict synchronous mode, switched at runtime with PATCH /config (no PostgreSQL
// restart: the postmaster pid never changes):
//   - strict, both replicas stopped: synchronous_standby_names is '*', a commit on the primary
//     waits (PostgreSQL shows it waiting on SyncRep) and completes once one replica is back;
//   - non-strict, both replicas stopped: the primary commits asynchronously, says so in /status
//     (synchronous_replication.state 'asynchronous') and `sync` names no standby;
//   - non-strict, primary lost while `sync` names no standby: no replica takes over (they may
//     lack commits acknowledged asynchronously); the old primary, the `sync` leader, comes back
//     and leads again;
//   - synchronous_mode off: back to plain asynchronous replication.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { endQuietly, withCluster, type LocalNode } from '../../harness/index.js';
import { direct, otherNodes } from '../cluster/support.js';
import {
  observeFor, patchConfig, setting, sleep, status, syncKey, waitStreaming, waitSyncPublished, waitSyncState,
} from './support.js';

describe('strict and non-strict synchronous mode, switched at runtime', () => {
  const cluster = withCluster({ agents: 3, scope: 'itstrict', waitReady: { timeoutMs: 120_000 } });
  let primary: LocalNode;
  let postmaster: number | null = null;
  const clients: pg.Client[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => endQuietly(c, 1000)));
  });

  async function bothReplicasBack(): Promise<void> {
    for (const n of otherNodes(cluster, primary)) if (!cluster.agentRunning(n)) cluster.startAgent(n);
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
  }

  it('turning synchronous_mode (strict) on at runtime takes effect without restarting PostgreSQL', async () => {
    primary = await cluster.waitForPrimary();
    postmaster = cluster.postmasterPid(primary);
    expect(postmaster).not.toBeNull();
    expect(await setting(cluster, primary, 'synchronous_standby_names')).toBe('');
    await direct(cluster, primary, 'CREATE TABLE it_strict (id int PRIMARY KEY, note text)');
    await patchConfig(cluster, primary, { synchronous_mode: true, synchronous_mode_strict: true });
    await waitSyncState(cluster, primary, 'synchronous');
    const key = await waitSyncPublished(cluster, primary.name);
    // /status follows the key once published (state 'synchronous' is reported as soon as a
    // standby is required, the standbys once they are published).
    await cluster.waitFor(() => status(cluster, primary), {
      timeoutMs: 15_000, what: `${primary.name}'s /status to list the published standby`,
      until: (st) => JSON.stringify(st.synchronous_replication) === JSON.stringify({ state: 'synchronous', standbys: key.sync_standbys }),
    });
    expect(await setting(cluster, primary, 'synchronous_standby_names')).toBe(`FIRST 1 ("${key.sync_standbys[0]}")`);
    expect(cluster.postmasterPid(primary), 'PostgreSQL was not restarted').toBe(postmaster);
  });

  it('strict: with both replicas stopped a commit blocks until one replica returns', async () => {
    const [r1, r2] = otherNodes(cluster, primary) as [LocalNode, LocalNode];
    await Promise.all([cluster.stopAgent(r1), cluster.stopAgent(r2)]);
    const st = await waitSyncState(cluster, primary, 'waiting');
    expect(st.synchronous_replication!.standbys).toEqual([]);
    expect(await setting(cluster, primary, 'synchronous_standby_names')).toBe('*');
    expect((await syncKey(cluster))).toEqual({ leader: primary.name, sync_standbys: [] });

    const client = new pg.Client({ connectionString: cluster.pgConnString(primary), application_name: 'it-strict-blocked', connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    let outcome: 'pending' | 'committed' | Error = 'pending';
    const commit = client.query("INSERT INTO it_strict VALUES (1, 'strict')").then(
      () => { outcome = 'committed'; },
      (err: unknown) => { outcome = err as Error; },
    );
    await sleep(3000);
    expect(outcome, 'the commit must wait for a synchronous standby').toBe('pending');
    const waiting = await direct<{ wait_event: string | null }>(cluster, primary,
      "SELECT wait_event FROM pg_stat_activity WHERE application_name = 'it-strict-blocked'");
    expect(waiting).toEqual([{ wait_event: 'SyncRep' }]);

    const restarted = Date.now();
    cluster.startAgent(r1);
    await cluster.waitFor(() => outcome, { timeoutMs: 90_000, what: `the blocked commit to complete once ${r1.name} is back`, until: (o) => o !== 'pending' });
    await commit;
    process.stdout.write(`[strict-mode] blocked commit completed ${Date.now() - restarted} ms after ${r1.name}'s agent was started\n`);
    expect(outcome).toBe('committed');
    // The standby that released the commit has it.
    const rows = await direct(cluster, r1, 'SELECT note FROM it_strict WHERE id = 1');
    expect(rows).toEqual([{ note: 'strict' }]);
    await waitSyncPublished(cluster, primary.name);
    expect((await syncKey(cluster))!.sync_standbys).toEqual([r1.name]);
    await bothReplicasBack();
    expect(cluster.postmasterPid(primary)).toBe(postmaster);
  });

  it('non-strict: with both replicas stopped commits proceed asynchronously and /status says so', async () => {
    await patchConfig(cluster, primary, { synchronous_mode_strict: false });
    await waitSyncState(cluster, primary, 'synchronous');
    const [r1, r2] = otherNodes(cluster, primary) as [LocalNode, LocalNode];
    await Promise.all([cluster.stopAgent(r1), cluster.stopAgent(r2)]);
    const st = await waitSyncState(cluster, primary, 'asynchronous');
    expect(st.synchronous_replication).toEqual({ state: 'asynchronous', standbys: [] });
    expect(await setting(cluster, primary, 'synchronous_standby_names')).toBe('');
    // No standby is published, so no replica could be promoted automatically meanwhile.
    expect(await syncKey(cluster)).toEqual({ leader: primary.name, sync_standbys: [] });
    const t0 = Date.now();
    await direct(cluster, primary, "INSERT INTO it_strict VALUES (2, 'non-strict')", [], 5000);
    process.stdout.write(`[strict-mode] non-strict commit with no standby took ${Date.now() - t0} ms\n`);
    for (const n of [r1, r2]) cluster.startAgent(n);
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
    await waitSyncState(cluster, primary, 'synchronous');
    expect(cluster.postmasterPid(primary)).toBe(postmaster);
  });

  it('non-strict: a primary lost while `sync` names no standby is not replaced by a replica; it comes back as the leader', async () => {
    const [r1, r2] = otherNodes(cluster, primary) as [LocalNode, LocalNode];
    await Promise.all([cluster.stopAgent(r1), cluster.stopAgent(r2)]);
    await waitSyncState(cluster, primary, 'asynchronous');
    // Acknowledged asynchronously: this row exists on the primary only.
    await direct(cluster, primary, "INSERT INTO it_strict VALUES (3, 'primary only')", [], 5000);
    await cluster.killNode(primary);
    for (const n of [r1, r2]) cluster.startAgent(n);
    // The replicas start, find no leader, and must not take over: they are not in `sync`.
    await cluster.waitFor(() => Promise.all([r1, r2].map((n) => status(cluster, n))), {
      timeoutMs: 90_000, what: 'both replicas to refuse to race (not listed in sync)',
      until: (ss) => ss.every((st) => /^no leader, but I am not eligible: synchronous mode and not listed in sync/.test(st.last_decision?.reason ?? '')),
    });
    const seen = await observeFor(8000, 250, async () => Object.entries(await cluster.statuses(1500))
      .filter(([, st]) => st.role === 'primary' && st.state === 'running').map(([n]) => n));
    expect(seen.flat(), 'no replica may take over while sync names no standby').toEqual([]);
    // The old primary (the `sync` leader, holding every acknowledged commit) returns and leads.
    const restarted = Date.now();
    cluster.startAgent(primary);
    const back = await cluster.waitForPrimary({ timeoutMs: 90_000 });
    expect(back.name).toBe(primary.name);
    process.stdout.write(`[strict-mode] former primary leading again ${Date.now() - restarted} ms after its agent was started\n`);
    expect(await direct(cluster, primary, 'SELECT note FROM it_strict WHERE id = 3')).toEqual([{ note: 'primary only' }]);
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
    await waitSyncPublished(cluster, primary.name);
    postmaster = cluster.postmasterPid(primary); // it was killed: a new postmaster from here on
  });

  it('turning synchronous_mode off at runtime returns to asynchronous replication without a restart', async () => {
    await patchConfig(cluster, primary, { synchronous_mode: false });
    await waitSyncState(cluster, primary, 'off');
    await cluster.waitFor(() => setting(cluster, primary, 'synchronous_standby_names'), {
      timeoutMs: 20_000, what: 'synchronous_standby_names to be cleared', until: (v) => v === '',
    });
    expect((await syncKey(cluster))?.sync_standbys ?? []).toEqual([]);
    for (const n of otherNodes(cluster, primary)) {
      await waitStreaming(cluster, primary, n.name, 30_000);
      expect((await status(cluster, n)).sync_standby).toBe(false);
    }
    const rows = await direct<{ sync_state: string }>(cluster, primary, 'SELECT sync_state FROM pg_stat_replication');
    expect(rows.map((r) => r.sync_state)).toEqual(['async', 'async']);
    expect(cluster.postmasterPid(primary), 'PostgreSQL was never restarted').toBe(postmaster);
  });
});
