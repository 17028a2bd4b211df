// LocalCluster with real agents: the harness's own controls (routing through HAProxy, the writer,
// freezing and killing agents and PostgreSQL, stop with nothing left behind). Failover behaviour
// itself is tested by test/chaos; here a fault is followed only by "the cluster is whole again".
// Needs the built agent (dist/agent/cli.js; `npm test` builds it) and fails loudly without it.
// LOCALCLUSTER_REPO_DIR points at another
// build of the repository (e.g. a private `tsc --outDir`).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findRepoDir, LocalCluster, sql, withCluster, Writer } from '../../harness/index.js';

const repoDir = process.env.LOCALCLUSTER_REPO_DIR ?? findRepoDir();
if (!existsSync(join(repoDir, 'dist', 'agent', 'cli.js'))) {
  throw new Error(`the agent is not built: ${join(repoDir, 'dist/agent/cli.js')} is missing (run npm run build)`);
}

function pgrep(needle: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map(Number)
      .filter((pid) => pid !== process.pid && alive(pid));
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

const isRoot = process.getuid?.() === 0;

describe('LocalCluster with 3 agents', () => {
  const cluster = withCluster({ agents: 3, repoDir, waitReady: { timeoutMs: 90_000 } });

  it('gives each node its own config, log and data directory, owned by postgres when root', () => {
    expect(cluster.nodes.map((n) => n.name)).toEqual(['node1', 'node2', 'node3']);
    for (const n of cluster.nodes) {
      expect(existsSync(n.configFile)).toBe(true);
      expect(existsSync(join(n.dataDir, 'PG_VERSION'))).toBe(true);
      expect(readFileSync(n.logFile, 'utf8')).toMatch(/^\{"level":/m); // pino JSON lines
      if (isRoot) {
        expect(statSync(n.dir).uid).not.toBe(0);
        const pm = cluster.postmasterPid(n);
        expect(pm).not.toBeNull();
        expect(statSync(`/proc/${pm}`).uid).not.toBe(0);
        expect(statSync(`/proc/${cluster.agentPid(n)}`).uid).not.toBe(0);
      }
    }
  });

  it('routes read-write to the primary and read-only to the replicas through HAProxy', async () => {
    const primary = await cluster.waitForPrimary();
    const rw = await sql<{ ro: boolean; port: number }>(cluster.rwConnString(), 'SELECT pg_is_in_recovery() AS ro, inet_server_port() AS port');
    expect(rw[0]).toEqual({ ro: false, port: primary.pgPort });
    const ro = await sql<{ ro: boolean; port: number }>(cluster.roConnString(), 'SELECT pg_is_in_recovery() AS ro, inet_server_port() AS port');
    expect(ro[0]!.ro).toBe(true);
    expect(ro[0]!.port).not.toBe(primary.pgPort);
    const direct = await sql<{ ro: boolean }>(cluster.pgConnString(primary), 'SELECT pg_is_in_recovery() AS ro');
    expect(direct[0]!.ro).toBe(false);
  });

  it('answers /status for every node', async () => {
    const all = await cluster.statuses();
    expect(Object.keys(all).sort()).toEqual(['node1', 'node2', 'node3']);
    expect(Object.values(all).filter((s) => s.role === 'primary')).toHaveLength(1);
  });

  it('writes through HAProxy with a writer whose history verifies', async () => {
    const w = new Writer({ connString: cluster.rwConnString(), intervalMs: 20 }).start();
    try {
      await w.waitForAcks(20, 20_000);
    } finally {
      await w.stop();
    }
    const v = await w.verify(cluster.rwConnString());
    expect(v.lost).toEqual([]);
    expect(v.phantom).toEqual([]);
    expect(v.rows).toBe(w.acked.length);
    expect(w.report().acked).toBe(w.acked.length);
  });

  it('freezes an agent (its API stops answering) and thaws it', async () => {
    const { replicas } = await cluster.waitUntilReady();
    const r = replicas[0]!;
    cluster.freezeAgent(r);
    try {
      await expect(cluster.apiStatus(r, 500)).rejects.toThrow();
      expect(readFileSync(`/proc/${cluster.agentPid(r)}/stat`, 'utf8').split(') ')[1]![0]).toBe('T');
    } finally {
      cluster.thawAgent(r);
    }
    await cluster.waitFor(() => cluster.apiStatus(r, 500), { what: `${r.name} to answer after thaw`, timeoutMs: 10_000 });
  });

  it('kills an agent alone and restarts it', async () => {
    // What happens to its PostgreSQL is the agent's business (it may take it down with it).
    const { replicas } = await cluster.waitUntilReady();
    const r = replicas[0]!;
    const pid = cluster.agentPid(r)!;
    await cluster.killAgent(r);
    expect(alive(pid)).toBe(false);
    expect(cluster.agentRunning(r)).toBe(false);
    expect(() => cluster.freezeAgent(r)).toThrow(/not running/);
    cluster.startAgent(r);
    expect(() => cluster.startAgent(r)).toThrow(/already running/);
    await cluster.waitUntilReady({ timeoutMs: 60_000 });
  });

  it('kills PostgreSQL alone (the postmaster and its children)', async () => {
    const { replicas } = await cluster.waitUntilReady();
    const r = replicas[0]!;
    const agentPid = cluster.agentPid(r);
    const pm = await cluster.killPostgres(r);
    expect(alive(pm)).toBe(false);
    expect(cluster.agentPid(r)).toBe(agentPid);
    await cluster.waitFor(() => cluster.postmasterPid(r), {
      what: `a new postmaster on ${r.name}`,
      timeoutMs: 60_000,
      until: (pid) => pid !== null && pid !== pm,
    });
    await cluster.waitUntilReady({ timeoutMs: 60_000 });
  });

  it('kills a whole node and brings it back', async () => {
    const { replicas } = await cluster.waitUntilReady();
    const r = replicas[0]!;
    await cluster.killNode(r);
    expect(cluster.agentRunning(r)).toBe(false);
    expect(cluster.postmasterPid(r)).toBeNull();
    expect(cluster.unexpectedExits).toEqual([]);
    cluster.startAgent(r);
    await cluster.waitUntilReady({ timeoutMs: 60_000 });
  });
});

describe('LocalCluster.stop with agents', () => {
  const clusters: LocalCluster[] = [];
  afterAll(async () => {
    for (const c of clusters) await c.stop();
  });

  it('leaves no process of the run behind, not even a postmaster nobody started through it', async () => {
    const c = new LocalCluster({ agents: 2, repoDir });
    clusters.push(c);
    await c.start();
    const { replicas } = await c.waitUntilReady({ timeoutMs: 90_000 });
    const r = replicas[0]!;
    await c.killNode(r);
    // Start that node's PostgreSQL by hand (pg_ctl daemonizes it: not our child, no run marker);
    // stop() must still find it through postmaster.pid.
    const pgCtl = ['/usr/lib/postgresql/15/bin/pg_ctl', '-D', r.dataDir, '-l', join(r.dir, 'manual.log'),
      '-o', `-p ${r.pgPort} -c listen_addresses=127.0.0.1`, '-w', '-t', '60', 'start'];
    const cmd = isRoot ? ['setpriv', '--reuid', 'postgres', '--regid', 'postgres', '--init-groups', '--', ...pgCtl] : pgCtl;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCALCLUSTER_')));
    execFileSync(cmd[0]!, cmd.slice(1), { env, cwd: '/', timeout: 70_000, stdio: 'ignore' });
    const pm = c.postmasterPid(r);
    expect(pm).not.toBeNull();
    c.freezeEtcd(); // stop() must cope with a frozen etcd too
    await c.stop();
    expect(alive(pm!)).toBe(false);
    expect(pgrep(c.runId)).toEqual([]);
    for (const n of c.nodes) expect(c.postmasterPid(n)).toBeNull();
    expect(readFileSync(join(c.runDir, 'cluster.log'), 'utf8')).toMatch(/postmaster outlived its agent/);
    c.removeRunDir();
  });
});
