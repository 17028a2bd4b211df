// The rendered config is accepted by the real HAProxy (`haproxy -c`), and a HAProxy running it
// routes by the agents' answers: read-write to the one answering 200 on /primary, read-only to
// those answering 200 on /replica, and it cuts sessions to a server as soon as it is marked down.
// The agents' health endpoints are stood in for by tiny HTTP servers whose answers the test
// flips; HAProxy itself is real.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHaproxyConfig } from '../../../proxy-config/render.js';
import { checkHaproxyConfig, writeHaproxyConfig } from '../../../proxy-config/write.js';
import { allocatePorts, fetchHaproxyServers, waitFor } from '../../harness/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-haproxy-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('haproxy -c accepts the rendered config', () => {
  it.each([
    ['three members', 3, undefined],
    ['no members', 0, undefined],
    ['a replica lag limit', 2, '16MB'],
  ] as const)('with %s', async (_what, count, replicaLag) => {
    const members = Array.from({ length: count }, (_, i) => ({
      name: `node${i + 1}`, host: '127.0.0.1', port: 15432 + i, apiHost: '127.0.0.1', apiPort: 18008 + i,
    }));
    const file = join(dir, `haproxy-${count}.cfg`);
    const changed = await writeHaproxyConfig(file, renderHaproxyConfig({
      scope: 'local', members, listen: { rw: '127.0.0.1:15000', ro: '127.0.0.1:15001', stats: '127.0.0.1:17000' },
      ...(replicaLag ? { replicaLag } : {}),
    }));
    expect(changed).toBe(true);
    const res = await checkHaproxyConfig(file);
    expect(res.output).not.toMatch(/ALERT/);
    expect(res.ok, res.output).toBe(true);
  });

  it('reports HAProxy\'s own words for a broken file', async () => {
    const file = join(dir, 'broken.cfg');
    await writeHaproxyConfig(file, 'listen x\n    bind 127.0.0.1:1\n    option nonsense\n');
    const res = await checkHaproxyConfig(file);
    expect(res.ok).toBe(false);
    expect(res.output).toMatch(/nonsense/);
  });

  it('writes only when the content changes', async () => {
    const file = join(dir, 'same.cfg');
    expect(await writeHaproxyConfig(file, 'a\n')).toBe(true);
    expect(await writeHaproxyConfig(file, 'a\n')).toBe(false);
    expect(await writeHaproxyConfig(file, 'b\n')).toBe(true);
  });
});

/** A stand-in for one agent: health answers the test controls, and a TCP "database" port. */
interface FakeNode {
  name: string;
  api: HttpServer;
  db: TcpServer;
  apiPort: number;
  dbPort: number;
  answers: { primary: number; replica: number };
  seen: string[];
}

async function fakeNode(name: string, apiPort: number, dbPort: number): Promise<FakeNode> {
  const answers = { primary: 503, replica: 503 };
  const seen: string[] = [];
  const api = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const path = (req.url ?? '').split('?')[0];
    const status = path === '/primary' ? node.answers.primary : path === '/replica' ? node.answers.replica : 404;
    res.writeHead(status).end();
  });
  // The "database" greets every connection with its name, so the test sees where it was routed.
  const db = createTcpServer((s) => {
    s.on('error', () => undefined);
    s.end(`${name}\n`);
  });
  const node: FakeNode = { name, api, db, apiPort, dbPort, answers, seen };
  await new Promise<void>((r) => node.api.listen(apiPort, '127.0.0.1', r));
  await new Promise<void>((r) => node.db.listen(dbPort, '127.0.0.1', r));
  return node;
}

/** Connects through HAProxy and resolves the first line the backend sent (or the error). */
function whoAnswers(port: number, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1');
    let buf = '';
    const done = (v: string) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(`timeout${buf ? `: ${buf}` : ''}`), timeoutMs);
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\n')) done(buf.trim());
    });
    s.on('error', (e) => done(`error: ${e.message}`));
    s.on('end', () => done(buf.trim() || 'closed'));
  });
}

describe('HAProxy routes by the agents\' health answers', () => {
  let nodes: FakeNode[] = [];
  let haproxy: ChildProcess | null = null;
  let rw = 0;
  let ro = 0;
  let stats = 0;

  beforeAll(async () => {
    const ports = await allocatePorts(9);
    [rw, ro, stats] = ports as [number, number, number];
    nodes = await Promise.all([0, 1, 2].map((i) => fakeNode(`node${i + 1}`, ports[3 + 2 * i]!, ports[4 + 2 * i]!)));
    nodes[0]!.answers = { primary: 200, replica: 503 };
    nodes[1]!.answers = { primary: 503, replica: 200 };
    nodes[2]!.answers = { primary: 503, replica: 200 };
    const file = join(dir, 'routing.cfg');
    await writeHaproxyConfig(file, renderHaproxyConfig({
      scope: 'local',
      members: nodes.map((n) => ({ name: n.name, host: '127.0.0.1', port: n.dbPort, apiHost: '127.0.0.1', apiPort: n.apiPort })),
      listen: { rw: `127.0.0.1:${rw}`, ro: `127.0.0.1:${ro}`, stats: `127.0.0.1:${stats}` },
    }));
    haproxy = spawn('/usr/sbin/haproxy', ['-W', '-db', '-f', file], { stdio: 'ignore' });
    await waitFor(() => fetchHaproxyServers(stats, 500), {
      what: 'HAProxy to mark node1 up for rw and node2, node3 for ro',
      timeoutMs: 10_000,
      until: (rows) => upServers(rows, 'local_rw') === 'node1' && upServers(rows, 'local_ro') === 'node2,node3',
    });
  });

  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((r) => haproxy!.once('exit', r));
      haproxy.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      haproxy.kill('SIGKILL');
    }
    await Promise.all(nodes.flatMap((n) => [
      new Promise((r) => n.api.close(r)),
      new Promise((r) => n.db.close(r)),
    ]));
  });

  it('checks with OPTIONS on /primary and /replica', () => {
    expect(nodes[0]!.seen).toContain('OPTIONS /primary');
    expect(nodes[0]!.seen).toContain('OPTIONS /replica');
  });

  it('sends read-write connections to the primary and read-only ones to the replicas', async () => {
    expect(await whoAnswers(rw)).toBe('node1');
    const ro1 = await whoAnswers(ro);
    const ro2 = await whoAnswers(ro);
    expect(new Set([ro1, ro2])).toEqual(new Set(['node2', 'node3']));
  });

  it('follows a change of primary within about a second', async () => {
    nodes[0]!.answers = { primary: 503, replica: 200 };
    nodes[1]!.answers = { primary: 200, replica: 503 };
    const t0 = Date.now();
    await waitFor(() => whoAnswers(rw, 500), { what: 'rw to reach node2', timeoutMs: 5000, intervalMs: 50, until: (w) => w === 'node2' });
    expect(Date.now() - t0).toBeLessThan(2000);
    await waitFor(() => fetchHaproxyServers(stats, 500), {
      what: 'ro to be node1, node3',
      timeoutMs: 5000,
      until: (rows) => upServers(rows, 'local_ro') === 'node1,node3',
    });
  });

  it('cuts an open session when its server is marked down', async () => {
    // A long-lived session: a backend that keeps the connection open.
    const holder = createTcpServer((s) => {
      s.on('error', () => undefined);
      s.write('held\n');
    });
    // Re-point node2's database port at a server that holds the connection: close and re-listen.
    await new Promise((r) => nodes[1]!.db.close(r));
    nodes[1]!.db = holder;
    await new Promise<void>((r) => holder.listen(nodes[1]!.dbPort, '127.0.0.1', r));
    const sock = connect(rw, '127.0.0.1');
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('data', () => r()));
    const closed = new Promise<number>((r) => sock.once('close', () => r(Date.now())));
    const t0 = Date.now();
    nodes[1]!.answers = { primary: 503, replica: 200 };
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
    expect(at, 'session to the demoted primary still open after 5 s').toBeGreaterThan(0);
    expect(at - t0).toBeLessThan(2000);
  });
});

function upServers(rows: Awaited<ReturnType<typeof fetchHaproxyServers>>, proxy: string): string {
  return rows.filter((r) => r.proxy === proxy && r.status.startsWith('UP')).map((r) => r.server).sort().join(',');
}
