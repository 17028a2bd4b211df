// Issue 11, item 9: slow clients must not hold the REST API's connections. Over real loopback
// sockets: clients that send partial headers (slowloris) or nothing at all are disconnected
// within the header deadline, while HAProxy-style checks (a new connection every 500 ms, 1 s
// timeout) and a keep-alive poller keep getting 200 meanwhile.
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { API_SOCKET_LIMITS, buildApi, startApi, type ApiSocketLimits } from '../../../agent/api/server.js';
import { NodeStateStore } from '../../../agent/runtime/node-state.js';
import { systemClock } from '../../../agent/clock.js';
import { createLogger } from '../../../agent/log.js';
import { primaryState } from './builders.js';

const apps: FastifyInstance[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function serve(limits?: Partial<ApiSocketLimits>): Promise<{ port: number }> {
  const app = buildApi({
    store: new NodeStateStore(primaryState()), clock: systemClock,
    logger: createLogger({ level: 'silent', format: 'json' }), ...(limits ? { limits } : {}),
  });
  apps.push(app);
  const address = await startApi(app, '127.0.0.1:0');
  return { port: Number(new URL(address).port) };
}

/** A raw client; resolves `closed` with the ms from connect to the server closing it. */
function rawClient(port: number, onConnect: (s: Socket) => void): { socket: Socket; closed: Promise<number> } {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  const started = Date.now();
  socket.on('error', () => undefined);
  // Read whatever the server sends (a 408), or its FIN would go unnoticed.
  socket.resume();
  socket.on('connect', () => onConnect(socket));
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  return { socket, closed };
}

/** One health check the way HAProxy does it: a new connection, a 1 s deadline. */
function check(port: number, agent?: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', method: 'GET', timeout: 1000, ...(agent ? { agent } : { agent: false }) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('health check timed out (1 s)')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('REST API socket limits', () => {
  it('are set for a health endpoint (headers 5 s, keep-alive 5 s, enforced every 0.5 s)', () => {
    expect(API_SOCKET_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(5_000);
    expect(API_SOCKET_LIMITS.requestTimeoutMs).toBeGreaterThan(API_SOCKET_LIMITS.headersTimeoutMs);
    // Long enough for a poller every 500 ms to reuse its socket; well under the 72 s default.
    expect(API_SOCKET_LIMITS.keepAliveTimeoutMs).toBeGreaterThanOrEqual(2_000);
    expect(API_SOCKET_LIMITS.keepAliveTimeoutMs).toBeLessThanOrEqual(10_000);
  });

  it('disconnects 150 slowloris clients and 50 silent ones within the header deadline; checks get 200 meanwhile', async () => {
    const { port } = await serve();
    const bound = API_SOCKET_LIMITS.headersTimeoutMs + API_SOCKET_LIMITS.connectionsCheckingIntervalMs + 1_000;
    const trickle: NodeJS.Timeout[] = [];
    const slow = Array.from({ length: 150 }, () => rawClient(port, (s) => {
      s.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      // One header byte every 300 ms: never idle, never finished.
      const t = setInterval(() => { if (!s.destroyed) s.write('X'); }, 300);
      trickle.push(t);
    }));
    const silent = Array.from({ length: 50 }, () => rawClient(port, () => undefined));

    // HAProxy's pattern while they hang on: a fresh connection every 500 ms, 1 s timeout.
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const codes: number[] = [];
    const keepAliveCodes: number[] = [];
    const until = Date.now() + bound;
    while (Date.now() < until) {
      const [a, b] = await Promise.all([check(port), check(port, keepAlive)]);
      codes.push(a);
      keepAliveCodes.push(b);
      await sleep(500);
    }
    const times = await Promise.all([...slow, ...silent].map((c) => Promise.race([c.closed, sleep(2_000).then(() => Infinity)])));
    for (const t of trickle) clearInterval(t);
    keepAlive.destroy();

    expect(Math.max(...times)).toBeLessThanOrEqual(bound);
    expect(codes.length).toBeGreaterThanOrEqual(8);
    expect(new Set(codes)).toEqual(new Set([200]));
    expect(new Set(keepAliveCodes)).toEqual(new Set([200]));
  }, 30_000);

  it('a keep-alive client polling every 500 ms is never cut off; an idle one is closed after keepAliveTimeout', async () => {
    const { port } = await serve({ keepAliveTimeoutMs: 1_000 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      codes.push(await check(port, agent));
      await sleep(500);
    }
    agent.destroy();
    expect(new Set(codes)).toEqual(new Set([200]));

    const idle = rawClient(port, (s) => s.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    const closedAfter = await Promise.race([idle.closed, sleep(5_000).then(() => Infinity)]);
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    expect(closedAfter).toBeLessThan(3_000);
  }, 20_000);

  it('caps open connections: beyond maxConnections new sockets are closed at once', async () => {
    const { port } = await serve({ maxConnections: 20 });
    const held = Array.from({ length: 20 }, () => rawClient(port, () => undefined));
    await sleep(300);
    const extra = rawClient(port, () => undefined);
    const t = await Promise.race([extra.closed, sleep(2_000).then(() => Infinity)]);
    expect(t).toBeLessThan(1_000);
    for (const h of held) h.socket.destroy();
    await sleep(200);
    expect(await check(port)).toBe(200);
  }, 10_000);
});
