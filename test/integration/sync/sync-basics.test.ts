// Synchronous mode on a real cluster: the primary publishes a synchronous standby only after
// PostgreSQL treats it as synchronous; when that standby dies another one replaces it, and the
// `sync` key never lists a node PostgreSQL does not treat as synchronous (polled during the
// change): every listed standby is required by synchronous_standby_names and, while connected,
// reported 'sync' (a standby that just died is still required — commits wait for it — so it
// still holds every acknowledged commit until it is unpublished). Only the `sync` member may be
// promoted.
import { describe, expect, it } from 'vitest';
import { withCluster } from '../../harness/index.js';
import { agentLog, direct } from '../cluster/support.js';

describe('synchronous mode', () => {
  const cluster = withCluster({ agents: 3, scope: 'itsync', dcs: { synchronous_mode: true }, waitReady: { timeoutMs: 120_000 } });

  async function syncKey(): Promise<{ leader: string; sync_standbys: string[] } | null> {
    const r = await cluster.etcdctl(['get', '--print-value-only', `${cluster.namespace}/${cluster.scope}/sync`]);
    const text = r.stdout.trim();
    return text ? JSON.parse(text) as { leader: string; sync_standbys: string[] } : null;
  }

  it('publishes a standby in sync only once PostgreSQL treats it as synchronous', async () => {
    const primary = await cluster.waitForPrimary();
    const key = await cluster.waitFor(syncKey, { timeoutMs: 20_000, what: 'a published sync standby', until: (k) => (k?.sync_standbys.length ?? 0) === 1 });
    expect(key!.leader).toBe(primary.name);
    const rows = await direct<{ application_name: string; sync_state: string }>(cluster, primary, 'SELECT application_name, sync_state FROM pg_stat_replication');
    expect(rows.find((r) => r.application_name === key!.sync_standbys[0])?.sync_state).toBe('sync');
    const st = await cluster.apiStatus(primary);
    expect(st.synchronous_replication).toEqual({ state: 'synchronous', standbys: key!.sync_standbys });
  });

  it('replaces a dead synchronous standby; sync never names a node PostgreSQL does not treat as sync', async () => {
    const primary = await cluster.waitForPrimary();
    const first = (await syncKey())!.sync_standbys[0]!;
    const violations: string[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const key = await syncKey().catch(() => null);
        const rows = await direct<{ application_name: string; sync_state: string }>(cluster, primary,
          'SELECT application_name, sync_state FROM pg_stat_replication').catch(() => null);
        const ssn = await direct<{ s: string }>(cluster, primary, "SELECT current_setting('synchronous_standby_names') AS s").then((r) => r[0]!.s).catch(() => null);
        // Read the key again after PostgreSQL: a name listed both before and after must hold.
        const again = await syncKey().catch(() => null);
        if (key && rows && again && ssn !== null) {
          for (const n of key.sync_standbys.filter((x) => again.sync_standbys.includes(x))) {
            const row = rows.find((r) => r.application_name === n);
            if (!ssn.includes(`"${n}"`)) violations.push(`${n} listed in sync but not in synchronous_standby_names (${ssn})`);
            else if (row && row.sync_state !== 'sync') violations.push(`${n} listed in sync but PostgreSQL says ${row.sync_state}`);
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await cluster.killNode(first);
      const key = await cluster.waitFor(syncKey, {
        timeoutMs: 20_000, what: 'another synchronous standby', until: (k) => k?.sync_standbys.length === 1 && k.sync_standbys[0] !== first,
      });
      expect(key!.sync_standbys[0]).not.toBe(first);
    } finally {
      polling = false;
      await poll;
    }
    expect(violations).toEqual([]);
    cluster.startAgent(first);
    await cluster.waitUntilReady({ timeoutMs: 60_000, replicas: 2 });
  });

  it('promotes only the member listed in sync when the primary dies', async () => {
    const primary = await cluster.waitForPrimary();
    const syncName = (await cluster.waitFor(syncKey, { timeoutMs: 20_000, what: 'sync standby', until: (k) => (k?.sync_standbys.length ?? 0) === 1 }))!.sync_standbys[0]!;
    const asyncNode = cluster.nodes.find((n) => n.name !== primary.name && n.name !== syncName)!;
    await cluster.killNode(primary);
    const next = await cluster.waitForPrimary({ exclude: [primary.name], timeoutMs: 30_000 });
    expect(next.name).toBe(syncName);
    expect(agentLog(asyncNode).some((l) => l.action === 'promote')).toBe(false);
    const raced = agentLog(asyncNode).filter((l) => l.action === 'race' || l.action === 'acquire_leader');
    expect(raced.filter((l) => l.time > Date.now() - 60_000)).toEqual([]);
    cluster.startAgent(primary);
    await cluster.waitUntilReady({ timeoutMs: 60_000, replicas: 2 });
  });
});
