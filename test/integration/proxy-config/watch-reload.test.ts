// `proxy-config haproxy --watch` against a real etcd and a real HAProxy (no PostgreSQL, no agents:
// member keys are written by the test, the "agent" is a tiny HTTP server answering 200 to
// OPTIONS /primary and the "postgres" a TCP echo server). When a fourth member key appears, the
// watch rewrites the config, HAProxy validates and reloads it (SIGUSR2 to the master-worker
// master), and a session already established through HAProxy to an unchanged backend survives
// the reload. Then etcd goes away: the watch reports it and keeps the file as it is.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_TAGS, type MemberRecord } from '../../../agent/core/types.js';
import { encodeMember } from '../../../agent/dcs/codec.js';
import { allocatePorts } from '../../../agent/local/ports.js';
import { fetchHaproxyServers, type HaproxyServerState } from '../../../agent/local/haproxy.js';
import { findSetpriv } from '../../../agent/local/supervisor.js';
import { waitFor } from '../../../agent/local/wait.js';
import { createLogger } from '../../../agent/log.js';
import { buildRenderer, runProxyConfig } from '../../../proxy-config/command.js';
import { etcdMemberSource } from '../../../proxy-config/etcd-source.js';
import { HaproxyWatch, type WatchEvent } from '../../../proxy-config/watch.js';
import { EtcdTestCluster } from '../dcs/etcd-server.js';

const HAPROXY = '/usr/sbin/haproxy';
const SCOPE = 'itest';
const NAMESPACE = '/pgwarden';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-proxy-watch-it-'));
const cfgFile = join(dir, 'haproxy.cfg');
const pidFile = join(dir, 'haproxy.pid');

let etcd: EtcdTestCluster | null = null;
let client: Etcd3 | null = null;
let haproxy: ChildProcess | null = null;
let agentApi: HttpServer | null = null;
let postgres: TcpServer | null = null;
let watch: HaproxyWatch | null = null;
let source: ReturnType<typeof etcdMemberSource> | null = null;
let session: Socket | null = null;
const events: WatchEvent[] = [];
let ports: number[] = [];
const [RW, RO, STATS, API1, PG1, API_DEAD, PG_DEAD] = [0, 1, 2, 3, 4, 5, 6] as const;

function record(name: string, pgPort: number, apiPort: number): MemberRecord {
  return {
    name, apiUrl: `http://127.0.0.1:${apiPort}/`, connUrl: `postgres://127.0.0.1:${pgPort}/postgres`,
    host: '127.0.0.1', port: pgPort, role: name === 'node1' ? 'primary' : 'replica', state: 'running', timeline: 1,
    walLsn: null, receivedLsn: null, replayedLsn: null, tags: NO_TAGS, version: 'test',
  };
}

async function putMember(m: MemberRecord): Promise<void> {
  await client!.put(`${NAMESPACE}/${SCOPE}/members/${m.name}`).value(encodeMember(m));
}

function upServers(rows: readonly HaproxyServerState[], proxy: string): string[] {
  return rows.filter((r) => r.proxy === proxy && r.status.startsWith('UP')).map((r) => r.server).sort();
}

/** Send a line on the session and resolve the echoed line (or reject after 2 s / on close). */
function echo(sock: Socket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (err: Error | null) => {
      clearTimeout(t);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve(buf.trim());
    };
    const onData = (d: Buffer) => { buf += d.toString(); if (buf.includes('\n')) done(null); };
    const onClose = () => done(new Error('the session through HAProxy was closed'));
    const t = setTimeout(() => done(new Error(`no echo within 2 s (got ${JSON.stringify(buf)})`)), 2000);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(`${line}\n`);
  });
}

beforeAll(async () => {
  ports = await allocatePorts(7);
  etcd = await EtcdTestCluster.start(1);
  client = new Etcd3({ hosts: etcd.endpoints });

  // node1's "agent" says primary; its "postgres" echoes. node2..node4 point at closed ports.
  agentApi = createHttpServer((req, res) => {
    res.writeHead(req.method === 'OPTIONS' && req.url === '/primary' ? 200 : 503).end();
  });
  postgres = createTcpServer((s) => { s.on('error', () => undefined); s.pipe(s); });
  await new Promise<void>((r) => agentApi!.listen(ports[API1], '127.0.0.1', r));
  await new Promise<void>((r) => postgres!.listen(ports[PG1], '127.0.0.1', r));
  await putMember(record('node1', ports[PG1]!, ports[API1]!));
  await putMember(record('node2', ports[PG_DEAD]!, ports[API_DEAD]!));
  await putMember(record('node3', ports[PG_DEAD]!, ports[API_DEAD]!));
}, 60_000);

afterAll(async () => {
  session?.destroy();
  await watch?.stop().catch(() => undefined);
  await source?.close().catch(() => undefined);
  if (haproxy && haproxy.exitCode === null && haproxy.signalCode === null) {
    const exited = new Promise((r) => haproxy!.once('exit', r));
    haproxy.kill('SIGTERM'); // the master stops its workers, old ones included
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (haproxy.exitCode === null && haproxy.signalCode === null) haproxy.kill('SIGKILL');
  }
  client?.close();
  await Promise.all([agentApi, postgres].map((s) => new Promise((r) => (s ? s.close(r) : r(undefined)))));
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('proxy-config haproxy --watch with real etcd and HAProxy', () => {
  const args = () => ({
    kind: 'haproxy', etcd: etcd!.endpoints, scope: SCOPE, namespace: NAMESPACE,
    'rw-port': `127.0.0.1:${ports[RW]}`, 'ro-port': `127.0.0.1:${ports[RO]}`, 'stats-port': `127.0.0.1:${ports[STATS]}`,
  });

  it('renders the members in etcd once (the command end to end) and HAProxy routes by it', async () => {
    let stderr = '';
    const code = await runProxyConfig({ ...args(), out: cfgFile, check: true, 'log-level': 'warn', 'log-format': 'json' }, {
      stdout: () => undefined, stderr: (t) => { stderr += t; },
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
    expect(code, stderr).toBe(0);
    const text = readFileSync(cfgFile, 'utf8');
    expect(text.match(/^ {4}server node\d /gm)).toHaveLength(6); // 3 members × 2 listeners

    const setpriv = findSetpriv();
    const argv = ['-W', '-db', '-f', cfgFile, '-p', pidFile];
    haproxy = setpriv
      ? spawn(setpriv, ['--pdeathsig', 'KILL', HAPROXY, ...argv], { stdio: 'ignore' })
      : spawn(HAPROXY, argv, { stdio: 'ignore' });
    await waitFor(() => fetchHaproxyServers(ports[STATS]!, 500), {
      what: 'HAProxy to mark node1 up for read-write', timeoutMs: 10_000, intervalMs: 100,
      until: (rows) => upServers(rows, `${SCOPE}_rw`).join() === 'node1',
    });
  });

  it('re-renders, validates and reloads when a fourth member appears; an open session survives', async () => {
    session = connect(ports[RW]!, '127.0.0.1');
    session.on('error', () => undefined);
    expect(await echo(session, 'before reload')).toBe('before reload');

    source = etcdMemberSource({ hosts: etcd!.endpoints, namespace: NAMESPACE, scope: SCOPE, timeoutMs: 500, logger: createLogger({ level: 'silent', format: 'json' }) });
    watch = await HaproxyWatch.start({
      source,
      render: buildRenderer(args(), SCOPE, null),
      out: cfgFile,
      haproxyBin: HAPROXY,
      reload: { kind: 'pidfile', pidFile },
      debounceMs: 100,
      resyncMs: 60_000,
      retryMs: 200,
      logger: createLogger({ level: 'silent', format: 'json' }),
      onEvent: (e) => events.push(e),
    });
    // Same members as the file already has: nothing written, no reload.
    expect(events).toEqual([{ type: 'unchanged', members: ['node1', 'node2', 'node3'] }]);
    const before = readFileSync(cfgFile, 'utf8');

    await putMember(record('node4', ports[PG_DEAD]!, ports[API_DEAD]!));
    await waitFor(async () => events.map((e) => e.type), {
      what: 'the watch to write and reload', timeoutMs: 10_000, intervalMs: 50, until: (t) => t.includes('reloaded'),
    });
    expect(events.slice(1)).toEqual([
      { type: 'written', members: ['node1', 'node2', 'node3', 'node4'] },
      { type: 'reloaded', message: expect.stringMatching(/^sent SIGUSR2 to HAProxy master \d+$/) },
    ]);
    const after = readFileSync(cfgFile, 'utf8');
    expect(after).not.toBe(before);
    expect(after).toContain(`server node4 127.0.0.1:${ports[PG_DEAD]}`);

    // The new worker serves the new config (node4 on the stats page) and still routes to node1.
    await waitFor(() => fetchHaproxyServers(ports[STATS]!, 500), {
      what: 'HAProxy\'s new worker to list node4 and mark node1 up', timeoutMs: 10_000, intervalMs: 100,
      until: (rows) => rows.some((r) => r.server === 'node4') && upServers(rows, `${SCOPE}_rw`).join() === 'node1',
    });
    // The session opened before the reload still works (the old worker keeps serving it).
    expect(await echo(session, 'after reload')).toBe('after reload');
    expect(haproxy!.exitCode).toBeNull();
  });

  it('keeps the last good config when etcd is unreachable', async () => {
    const good = readFileSync(cfgFile, 'utf8');
    const seen = events.length;
    await etcd!.node(0).kill();
    watch!.resync(); // what the resync timer or a SIGHUP does
    await waitFor(async () => events.slice(seen), {
      what: 'the watch to report etcd unreachable', timeoutMs: 5000, intervalMs: 50, until: (e) => e.length > 0,
    });
    expect(events[seen]).toMatchObject({ type: 'error', stage: 'etcd', message: expect.stringContaining(`/pgwarden/${SCOPE}/members/`) });
    expect(readFileSync(cfgFile, 'utf8')).toBe(good);
    expect(await echo(session!, 'etcd down')).toBe('etcd down');
  });
});
