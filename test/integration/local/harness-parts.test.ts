// The small parts of the harness on their own: waiters, ports, HAProxy stats parsing, /proc
// helpers, the child environment.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allocatePorts, parseHaproxyCsv, waitFor, WaitAbortedError, WaitTimeoutError } from '../../harness/index.js';
import { readEnvVar, readStat, withDescendants } from '../../../agent/local/procfs.js';
import { childEnv } from '../../../agent/local/supervisor.js';

describe('waitFor', () => {
  it('resolves the first value that satisfies the condition', async () => {
    let n = 0;
    const v = await waitFor(() => ++n, { what: 'n to reach 3', timeoutMs: 2000, intervalMs: 5, until: (x) => x >= 3 });
    expect(v).toBe(3);
  });

  it('names what it waited for and the last value on timeout', async () => {
    const err = await waitFor(() => ({ role: 'replica' }), { what: 'node1 to be primary', timeoutMs: 200, intervalMs: 20, until: (s) => s.role === 'primary' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as Error).message).toMatch(/timed out after 200 ms waiting for node1 to be primary; last observed: \{ role: 'replica' \}/);
  });

  it('reports a throwing probe\'s error as the last observation', async () => {
    const err = await waitFor(() => { throw new Error('ECONNREFUSED'); }, { what: 'the API', timeoutMs: 100, intervalMs: 10 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/last observed: Error: ECONNREFUSED/);
  });

  it('keeps its deadline even when a probe hangs', async () => {
    const t0 = Date.now();
    const err = await waitFor(() => new Promise(() => undefined), { what: 'a hung probe', timeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((err as Error).message).toMatch(/probe still pending/);
  });

  it('gives up at once when failIf says so', async () => {
    const err = await waitFor(() => false, { what: 'x', timeoutMs: 10_000, failIf: () => 'etcd1 exited with code 1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitAbortedError);
    expect((err as Error).message).toMatch(/gave up waiting for x: etcd1 exited with code 1/);
  });
});

describe('allocatePorts', () => {
  it('returns distinct free ports below the ephemeral range, never the same twice', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const a = await allocatePorts(20);
    const b = await allocatePorts(20);
    expect(new Set([...a, ...b]).size).toBe(40);
    for (const p of [...a, ...b]) {
      expect(p).toBeGreaterThanOrEqual(10000);
      expect(p).toBeLessThan(low!);
    }
  });
});

describe('parseHaproxyCsv', () => {
  it('reads the server rows (not the frontend/backend summary rows)', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,',
      'local_rw,FRONTEND,,,0,0,1000,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,',
      'local_rw,node1,0,0,2,2,100,2,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,10,0,,1,2,1,,2,,2,0,,1,L7OK,',
      'local_rw,node2,0,0,0,0,100,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,10,10,,1,2,2,,0,,2,0,,0,L7STS,',
      'local_rw,BACKEND,0,0,2,2,100,2,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,10,0,,1,2,0,,2,,1,0,,1,,',
      '',
    ].join('\n');
    expect(parseHaproxyCsv(csv)).toEqual([
      { proxy: 'local_rw', server: 'node1', status: 'UP', sessions: 2, checkStatus: 'L7OK' },
      { proxy: 'local_rw', server: 'node2', status: 'DOWN', sessions: 0, checkStatus: 'L7STS' },
    ]);
  });
});

describe('/proc helpers and the child environment', () => {
  it('finds descendants and environment markers of live processes', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & wait'], { env: { ...process.env, LOCALCLUSTER_RUN_ID: 'marker-test' }, stdio: 'ignore' });
    try {
      await waitFor(() => withDescendants([child.pid!]).size, { what: 'sh to start sleep', timeoutMs: 5000, until: (n) => n === 2 });
      const tree = [...withDescendants([child.pid!])];
      for (const pid of tree) expect(readEnvVar(pid, 'LOCALCLUSTER_RUN_ID')).toBe('marker-test');
      expect(readStat(child.pid!)?.ppid).toBe(process.pid);
    } finally {
      for (const pid of withDescendants([child.pid!])) process.kill(pid, 'SIGKILL');
    }
  });

  it('scrubs variables that would change a child\'s behaviour', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { PGWARDEN_NAME: 'x', PGPASSWORD: 'y', ETCDCTL_ENDPOINTS: 'z', NODE_OPTIONS: '--inspect', KEEP_ME: '1' });
      const env = childEnv({ EXTRA: 'e' }, { user: 'postgres', uid: 101, gid: 104, home: '/var/lib/postgresql' });
      expect(env.PGWARDEN_NAME).toBeUndefined();
      expect(env.PGPASSWORD).toBeUndefined();
      expect(env.ETCDCTL_ENDPOINTS).toBeUndefined();
      expect(env.NODE_OPTIONS).toBeUndefined();
      expect(env.KEEP_ME).toBe('1');
      expect(env.EXTRA).toBe('e');
      expect(env.HOME).toBe('/var/lib/postgresql');
      expect(env.USER).toBe('postgres');
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
