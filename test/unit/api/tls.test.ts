// HTTPS for the REST API with a throwaway CA made by openssl: the API serves over TLS, a client
// without a certificate is refused when require_client_cert is set, and reloadTls() swaps the
// server certificate for new connections (SIGHUP).
import { systemClock } from '../../../agent/clock.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi, startApi } from '../../../agent/api/server.js';
import { readTlsFiles, reloadTls, type ApiTls } from '../../../agent/api/tls.js';
import { fetchPeerStatus, peerStatusGetter, toPeerStatus } from '../../../agent/api/peer-client.js';
import { NodeStateStore } from '../../../agent/runtime/node-state.js';
import { createLogger } from '../../../agent/log.js';
import { primaryState } from './builders.js';
import { FakeControl } from './fake-control.js';

let dir = '';
const file = (name: string) => join(dir, name);

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed: these TLS tests need it (apt-get install openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** A key pair signed by the test CA, with the given CN, SAN and extended key usage. */
function issue(name: string, cn: string, ext: string): void {
  writeFileSync(file(`${name}.ext`), `${ext}\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-tls-test-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=pgwarden test CA']);
  const server = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth';
  issue('server', 'server-one', server);
  issue('server2', 'server-two', server);
  issue('client', 'ctl-client', 'extendedKeyUsage=clientAuth');
  // An agent's own certificate: it serves with it and presents it when asking peers.
  issue('node', 'node-one', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const apps: FastifyInstance[] = [];
afterEach(async () => { await Promise.all(apps.splice(0).map((a) => a.close())); });

const AUTH = { username: 'admin', password: 'secret' };
const BASIC = `Basic ${Buffer.from('admin:secret').toString('base64')}`;

async function serve(tls: ApiTls): Promise<{ app: FastifyInstance; port: number }> {
  const app = buildApi({
    store: new NodeStateStore(primaryState()),
    clock: { ...systemClock, now: () => 1_000_000, wallNow: () => Date.now() },
    logger: createLogger({ level: 'silent', format: 'json' }),
    control: new FakeControl(),
    auth: AUTH,
    tls,
  });
  apps.push(app);
  const address = await startApi(app, '127.0.0.1:0');
  return { app, port: Number(new URL(address).port) };
}

interface Answer { status: number; body: string; peer: PeerCertificate }

function call(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; cert?: boolean; ca?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/health', agent: false,
      headers: opts.headers ?? {},
      ...(opts.ca === false ? {} : { ca: readFileSync(file('ca.crt')) }),
      ...(opts.cert ? { cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) } : {}),
      timeout: 5000,
    }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peer }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('REST API over TLS', () => {
  it('serves health checks and authenticated mutating calls over HTTPS', async () => {
    const { port } = await serve({ cert: file('server.crt'), key: file('server.key') });
    const health = await call(port);
    expect(health.status).toBe(200);
    expect(health.peer.subject.CN).toBe('server-one');
    expect((await call(port, { method: 'POST', path: '/reload' })).status).toBe(401);
    expect((await call(port, { method: 'POST', path: '/reload', headers: { authorization: BASIC } })).status).toBe(200);
  });

  it('is refused by a client that does not trust the CA', async () => {
    const { port } = await serve({ cert: file('server.crt'), key: file('server.key') });
    await expect(call(port, { ca: false })).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });

  it('with require_client_cert, refuses a client without a certificate and serves one with', async () => {
    const { port } = await serve({ cert: file('server.crt'), key: file('server.key'), ca: file('ca.crt'), require_client_cert: true });
    await expect(call(port)).rejects.toThrow(/certificate|socket hang up|ECONNRESET|alert/i);
    const withCert = await call(port, { cert: true });
    expect(withCert.status).toBe(200);
    expect((await call(port, { cert: true, method: 'POST', path: '/reload', headers: { authorization: BASIC } })).status).toBe(200);
  });

  it('a peer asks another for /status with its own certificate when client certificates are required', async () => {
    const nodeTls: ApiTls = { cert: file('node.crt'), key: file('node.key'), ca: file('ca.crt'), require_client_cert: true };
    const { port } = await serve(nodeTls);
    const url = `https://127.0.0.1:${port}/`;
    const doc = await peerStatusGetter(() => readTlsFiles(nodeTls))(url, 2000);
    expect(toPeerStatus('node-one', doc)).toMatchObject({ reachable: true, role: 'primary', running: true });
    // Without our TLS material: the peer's CA is not trusted, and we have no certificate to show.
    await expect(fetchPeerStatus(url, 2000)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    await expect(peerStatusGetter(() => ({ ca: readFileSync(file('ca.crt')) }))(url, 2000)).rejects.toThrow(/certificate|hang up|ECONNRESET|alert/i);
  });

  it('reloadTls() installs a renewed certificate for new connections, and keeps the old one on a bad file', async () => {
    const tls = { cert: file('server.crt'), key: file('server.key') };
    const { app, port } = await serve(tls);
    expect((await call(port)).peer.subject.CN).toBe('server-one');
    reloadTls(app, { cert: file('server2.crt'), key: file('server2.key') });
    expect((await call(port)).peer.subject.CN).toBe('server-two');
    expect(() => reloadTls(app, { cert: file('missing.crt'), key: file('server.key') })).toThrow(/restapi\.tls\.cert: cannot read .*ENOENT/);
    expect(() => reloadTls(app, { cert: file('server.crt'), key: file('server2.key') })).toThrow();
    expect((await call(port)).peer.subject.CN).toBe('server-two');
  });

  it('reloadTls() on a plain-HTTP API says a restart is needed', async () => {
    const app = buildApi({
      store: new NodeStateStore(primaryState()), clock: { ...systemClock, now: () => 0, wallNow: () => 0 }, logger: createLogger({ level: 'silent' }),
    });
    apps.push(app);
    await app.ready();
    expect(() => reloadTls(app, { cert: file('server.crt'), key: file('server.key') })).toThrow(/restart/);
  });
});
