// LocalCluster with no agents: a 3-member etcd on tmpfs and HAProxy. Freezing etcd makes reads
// time out; thawing brings them back; stop() leaves no process of the run behind.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalCluster, withCluster } from '../../harness/index.js';

/** Pids of live processes whose command line mentions `needle` (pgrep -f), excluding zombies. */
function pgrep(needle: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map(Number)
      .filter((pid) => pid !== process.pid && !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

describe('LocalCluster with 0 agents', () => {
  const cluster = withCluster({ agents: 0 });

  it('starts a healthy 3-member etcd', async () => {
    expect(cluster.etcdEndpoints).toHaveLength(3);
    const health = await cluster.etcdctl(['endpoint', 'health', '--cluster', '-w', 'json']);
    expect(health.ok, health.stderr).toBe(true);
    const rows = JSON.parse(health.stdout) as { health: boolean }[];
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.health)).toBe(true);
    const members = await cluster.etcdctl(['member', 'list', '-w', 'json']);
    expect((JSON.parse(members.stdout) as { members: unknown[] }).members).toHaveLength(3);
  });

  it('keeps etcd data on tmpfs and every process in the pids file', () => {
    const run = JSON.parse(readFileSync(`${cluster.runDir}/run.json`, 'utf8')) as { shmDir: string | null; etcd: { dataDir: string }[] };
    if (existsSync('/dev/shm')) {
      expect(run.shmDir).toMatch(/^\/dev\/shm\//);
      for (const m of run.etcd) expect(existsSync(`${m.dataDir}/member`)).toBe(true);
    }
    const pids = readFileSync(`${cluster.runDir}/pids`, 'utf8').trim().split('\n');
    expect(pids.length).toBeGreaterThanOrEqual(4); // 3 etcd + haproxy (more if etcd had to retry on a port clash)
    expect(pids.map((l) => l.split('\t')[2])).toEqual(expect.arrayContaining(['etcd1', 'etcd2', 'etcd3', 'haproxy']));
    expect(pgrep(cluster.runId).length).toBeGreaterThanOrEqual(4);
  });

  it('serves reads and writes, which time out while etcd is frozen and work again after thaw', async () => {
    const put = await cluster.etcdctl(['put', '/test/k', 'v1']);
    expect(put.ok, put.stderr).toBe(true);
    cluster.freezeEtcd();
    try {
      const t0 = Date.now();
      const frozen = await cluster.etcdctl(['get', '/test/k', '--print-value-only'], { timeoutMs: 1000 });
      expect(frozen.ok).toBe(false);
      expect(`${frozen.stderr}${frozen.stdout}`).toMatch(/deadline exceeded|timed out|context/i);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      cluster.thawEtcd();
    }
    const after = await cluster.waitFor(() => cluster.etcdctl(['get', '/test/k', '--print-value-only']), {
      what: 'etcd to answer after thaw',
      timeoutMs: 10_000,
      until: (r) => r.ok,
    });
    expect(after.stdout.trim()).toBe('v1');
  });

  it('runs HAProxy with its three listeners', async () => {
    const { rwPort, roPort, statsPort } = cluster.haproxy;
    expect(new Set([rwPort, roPort, statsPort]).size).toBe(3);
    expect(await cluster.haproxyServers()).toEqual([]); // no members, no servers
  });
});

describe('LocalCluster.stop', () => {
  const clusters: LocalCluster[] = [];
  afterAll(async () => {
    for (const c of clusters) await c.stop();
  });

  it('leaves no etcd or haproxy process of the run, and removes the tmpfs data', async () => {
    const c = new LocalCluster({ agents: 0 });
    clusters.push(c);
    await c.start();
    const pids = readFileSync(`${c.runDir}/pids`, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[0]));
    const run = JSON.parse(readFileSync(`${c.runDir}/run.json`, 'utf8')) as { shmDir: string | null };
    c.freezeEtcd(); // stop() must cope with frozen members
    await c.stop();
    expect(pgrep(c.runId)).toEqual([]);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    if (run.shmDir) expect(existsSync(run.shmDir)).toBe(false);
    expect(c.state).toBe('stopped');
    await c.stop(); // idempotent
    c.removeRunDir();
    expect(existsSync(c.runDir)).toBe(false);
  });

  it('reaps the processes of a run whose owner died, and only those', async () => {
    // A crashed run as reapStale finds it: run.json names an owner that is gone; one process is
    // listed in the pids file (its command line names the run), one only carries the run marker,
    // and its tmpfs directory is still there. A live run next to it must be left alone.
    const baseDir = mkdtempSync('/tmp/pgwarden-reap-test-');
    const dead = spawnSync('true').pid!; // a pid that no longer exists
    const mk = (runId: string, ownerPid: number) => {
      const runDir = join(baseDir, runId);
      mkdirSync(runDir);
      const shmDir = `/dev/shm/pgwarden-run-${runId}`;
      mkdirSync(shmDir, { recursive: true });
      writeFileSync(join(shmDir, 'owner.json'), JSON.stringify({ ownerPid, ownerStartTime: null }));
      const listed = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', runId], { stdio: 'ignore', detached: true });
      const marked = spawn('sleep', ['600'], { stdio: 'ignore', detached: true, env: { ...process.env, LOCALCLUSTER_RUN_ID: runId } });
      writeFileSync(join(runDir, 'pids'), `${listed.pid}\t\tlisted\n`);
      writeFileSync(join(runDir, 'run.json'), JSON.stringify({ runId, runDir, ownerPid, ownerStartTime: null, shmDir, dataDirs: [] }));
      return { runDir, shmDir, pids: [listed.pid!, marked.pid!], procs: [listed, marked] };
    };
    const crashed = mk(`reaptest-crashed-${process.pid}`, dead);
    const live = mk(`reaptest-live-${process.pid}`, process.ppid); // owner alive: our parent
    try {
      const reaped = await LocalCluster.reapStale(baseDir);
      expect(reaped.map((r) => r.runDir)).toEqual([crashed.runDir]);
      expect(new Set(reaped[0]!.killed)).toEqual(new Set(crashed.pids));
      for (const pid of crashed.pids) expect(alive(pid)).toBe(false);
      expect(existsSync(crashed.shmDir)).toBe(false);
      for (const pid of live.pids) expect(alive(pid)).toBe(true);
      expect(existsSync(live.shmDir)).toBe(true);
      expect(await LocalCluster.reapStale(baseDir)).toEqual([]); // nothing left to do
    } finally {
      for (const p of [...crashed.procs, ...live.procs]) p.kill('SIGKILL');
      rmSync(baseDir, { recursive: true, force: true });
      rmSync(crashed.shmDir, { recursive: true, force: true });
      rmSync(live.shmDir, { recursive: true, force: true });
    }
  });
});
