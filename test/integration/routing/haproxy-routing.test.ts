// HAProxy with the generated config (proxy-config/render.ts, `replicaLag: '1MB'`, so the read-only
// listener checks OPTIONS /replica?lag=1MB): a replica whose replay falls more than 1 MB behind
// leaves the read-only backend and comes back once it has caught up; after node loss of the
// primary, the read-write port reaches the new primary.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sql, withCluster, type HaproxyServerState, type LocalNode } from '../../harness/index.js';
import { makeReplayLag, replayLagBytes, resumeReplay } from './support.js';

interface Where { readonly port: number; readonly ro: boolean }

describe('HAProxy routing with the generated config', () => {
  const cluster = withCluster({ agents: 3, scope: 'itroute', replicaLag: '1MB', waitReady: { timeoutMs: 120_000 } });

  const ro = (rows: readonly HaproxyServerState[], server: string) => rows.find((r) => r.proxy === 'itroute_ro' && r.server === server);
  const upIn = (rows: readonly HaproxyServerState[], suffix: 'rw' | 'ro') =>
    rows.filter((r) => r.proxy === `itroute_${suffix}` && r.status.startsWith('UP')).map((r) => r.server).sort();

  /** `n` fresh connections through the read-only port: which PostgreSQL answered each. */
  async function roLandings(n: number): Promise<Where[]> {
    const out: Where[] = [];
    for (let i = 0; i < n; i++) {
      const [r] = await sql<{ port: number; ro: boolean }>(cluster.roConnString(), 'SELECT inet_server_port() AS port, pg_is_in_recovery() AS ro');
      out.push(r!);
    }
    return out;
  }

  it('renders the read-only check with the lag bound', () => {
    const cfg = readFileSync(join(cluster.runDir, 'haproxy.cfg'), 'utf8');
    expect(cfg).toMatch(/listen itroute_ro[\s\S]*option httpchk OPTIONS \/replica\?lag=1MB/);
    expect(cfg).toMatch(/listen itroute_rw[\s\S]*option httpchk OPTIONS \/primary\n/);
  });

  it('takes a replica whose replay is paused beyond 1 MB out of the read-only backend, and back in when it catches up', async () => {
    const primary = await cluster.waitForPrimary();
    const [lagging, healthy] = cluster.nodes.filter((n) => n.name !== primary.name) as [LocalNode, LocalNode];
    expect(upIn(await cluster.haproxyServers(), 'ro')).toEqual([lagging.name, healthy.name].sort());

    const lag = await makeReplayLag(cluster, primary, lagging, { table: 'it_route_lag', minLagMb: 8 });
    // The healthy replica replays the same ~17 MB; while it is more than 1 MB behind it is rightly
    // out of the backend too. Wait until PostgreSQL says it has caught up.
    await cluster.waitFor(() => replayLagBytes(cluster, primary, healthy), {
      timeoutMs: 15_000, what: `${healthy.name} caught up`, until: (l) => l <= 0,
    });
    const down = await cluster.waitFor(() => cluster.haproxyServers(), {
      timeoutMs: 10_000, intervalMs: 100, what: `${lagging.name} DOWN and ${healthy.name} UP in itroute_ro`,
      until: (rows) => ro(rows, lagging.name)?.status.startsWith('DOWN') === true && ro(rows, healthy.name)?.status.startsWith('UP') === true,
    });
    expect(upIn(down, 'rw')).toEqual([primary.name]);
    // Round robin over the servers that are UP: none of 12 connections may land on the lagging one.
    const landings = await roLandings(12);
    expect(landings.filter((w) => w.port === lagging.pgPort)).toEqual([]);
    expect(landings.every((w) => w.port === healthy.pgPort && w.ro)).toBe(true);
    process.stdout.write(`haproxy routing: ${lagging.name} ${lag} bytes behind → ${ro(down, lagging.name)!.status} (${ro(down, lagging.name)!.checkStatus})\n`);

    await resumeReplay(cluster, primary, lagging);
    await cluster.waitFor(() => cluster.haproxyServers(), {
      timeoutMs: 10_000, intervalMs: 100, what: `${lagging.name} UP again in itroute_ro`,
      until: (rows) => ro(rows, lagging.name)?.status.startsWith('UP') === true,
    });
    const back = await roLandings(6);
    expect(back.some((w) => w.port === lagging.pgPort)).toBe(true);
    expect(back.every((w) => w.ro)).toBe(true);
  });

  it('routes the read-write port to the new primary after node loss of the old one', async () => {
    const old = await cluster.waitForPrimary();
    const [{ port: before }] = await sql<{ port: number }>(cluster.rwConnString(), 'SELECT inet_server_port() AS port') as [{ port: number }];
    expect(before).toBe(old.pgPort);

    await cluster.killNode(old);
    const next = await cluster.waitForPrimary({ exclude: [old.name], timeoutMs: 30_000 });
    const w = await cluster.waitFor(async () => {
      const [r] = await sql<{ port: number; ro: boolean; id: number }>(cluster.rwConnString(),
        'WITH w AS (INSERT INTO it_route_lag (g, pad) VALUES (-1, \'failover\') RETURNING g) ' +
        'SELECT inet_server_port() AS port, pg_is_in_recovery() AS ro, (SELECT g FROM w) AS id', [], { timeoutMs: 2000 });
      return r!;
    }, { timeoutMs: 15_000, intervalMs: 100, what: `a write through the read-write port on ${next.name}`, until: (r) => r.port === next.pgPort });
    expect(w).toEqual({ port: next.pgPort, ro: false, id: -1 });

    const rows = await cluster.haproxyServers();
    expect(upIn(rows, 'rw')).toEqual([next.name]);
    expect(rows.find((r) => r.proxy === 'itroute_rw' && r.server === old.name)?.status).toMatch(/^DOWN/);
    expect(rows.find((r) => r.proxy === 'itroute_ro' && r.server === old.name)?.status).toMatch(/^DOWN/);
    // Every later connection lands there too.
    for (let i = 0; i < 5; i++) {
      const [r] = await sql<{ port: number; ro: boolean }>(cluster.rwConnString(), 'SELECT inet_server_port() AS port, pg_is_in_recovery() AS ro');
      expect(r).toEqual({ port: next.pgPort, ro: false });
    }
  });
});
