// The delay relay on loopback: bytes pass unchanged and in order, each direction is delayed by at
// least the set latency, half-close and resets are passed on. (Lower bounds only: a busy machine
// can only make a relay slower, never faster, so these cannot flake on load.)
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { DelayRelay, releaseAt } from '../../../agent/local/delay-relay.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** An echo server on loopback that also reports when its peer half-closed. */
async function echoServer(): Promise<{ port: number; halfClosed: Promise<void> }> {
  let onHalfClose!: () => void;
  const halfClosed = new Promise<void>((r) => { onHalfClose = r; });
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => { onHalfClose(); s.end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise<void>((r) => { server.close(() => r()); server.unref(); }));
  return { port: (server.address() as { port: number }).port, halfClosed };
}

async function relayTo(port: number, delayMs: number, jitterMs = 0): Promise<{ relay: DelayRelay; port: number }> {
  const relay = new DelayRelay();
  relay.setDelay({ delayMs, jitterMs });
  const [l] = await relay.listen([{ label: 'echo', target: { host: '127.0.0.1', port } }], '127.0.0.1');
  cleanup.push(() => relay.close());
  return { relay, port: l!.port };
}

function client(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
    cleanup.push(() => { s.destroy(); });
  });
}

function readUntil(s: Socket, bytes: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    const t = setTimeout(() => reject(new Error(`timed out after ${n} of ${bytes} bytes`)), timeoutMs);
    s.on('data', (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= bytes) {
        clearTimeout(t);
        resolve(Buffer.concat(parts));
      }
    });
  });
}

describe('releaseAt', () => {
  const d = { delayMs: 100, jitterMs: 50 };
  it.each([
    [0, 0, 0.5, 100], // no jitter drawn (0.5 → 0)
    [0, 0, 0, 50], // lowest jitter
    [0, 0, 1, 150], // highest jitter
    [10, 500, 0, 500], // never before the previous chunk
  ])('now %d, previous %d, random %d → %d', (now, previous, r, want) => {
    expect(releaseAt(now, previous, d, () => r)).toBe(want);
  });
  it('a jitter larger than the delay never gives a negative delay', () => {
    expect(releaseAt(1000, 0, { delayMs: 10, jitterMs: 50 }, () => 0)).toBe(1000);
  });
});

describe('DelayRelay', () => {
  it('relays unchanged with no delay', async () => {
    const echo = await echoServer();
    const { port } = await relayTo(echo.port, 0);
    const s = await client(port);
    const got = readUntil(s, 5);
    s.write('hello');
    expect((await got).toString()).toBe('hello');
  });

  it('delays each direction: a round trip takes at least twice the delay', async () => {
    const echo = await echoServer();
    const { port } = await relayTo(echo.port, 150);
    const s = await client(port);
    const t0 = Date.now();
    const got = readUntil(s, 4);
    s.write('ping');
    expect((await got).toString()).toBe('ping');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300 - 5);
  });

  it('keeps a stream in order under jitter', async () => {
    const echo = await echoServer();
    const { port } = await relayTo(echo.port, 20, 19);
    const s = await client(port);
    const chunks = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(4, '0')};`);
    const want = chunks.join('');
    const got = readUntil(s, want.length);
    for (const c of chunks) {
      s.write(c);
      await new Promise((r) => setImmediate(r));
    }
    expect((await got).toString()).toBe(want);
  });

  it('a new delay applies to later bytes; zero removes it', async () => {
    const echo = await echoServer();
    const { relay, port } = await relayTo(echo.port, 0);
    const s = await client(port);
    relay.setDelay({ delayMs: 200, jitterMs: 0 });
    let t0 = Date.now();
    let got = readUntil(s, 1);
    s.write('a');
    await got;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400 - 5);
    relay.setDelay({ delayMs: 0, jitterMs: 0 });
    s.removeAllListeners('data');
    t0 = Date.now();
    got = readUntil(s, 1);
    s.write('b');
    expect((await got).toString()).toBe('b');
  });

  it('passes a half-close on after the delayed bytes', async () => {
    const echo = await echoServer();
    const { port } = await relayTo(echo.port, 100);
    const s = await client(port);
    const got = readUntil(s, 3);
    const ended = new Promise<void>((r) => s.on('end', () => r()));
    s.end('bye');
    expect((await got).toString()).toBe('bye');
    await echo.halfClosed;
    await ended;
  });

  it('closes the client when the target refuses', async () => {
    const free = await echoServer();
    const dead = free.port;
    await cleanup.pop()!(); // close the echo server: nothing listens on `dead` now
    const { port } = await relayTo(dead, 0);
    const s = await client(port);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('client not closed')), 5000);
      s.on('close', () => { clearTimeout(t); resolve(); });
      s.on('error', () => undefined);
    });
  });

  it('refuses a negative delay and keeps the old one', () => {
    const relay = new DelayRelay();
    relay.setDelay({ delayMs: 5, jitterMs: 1 });
    expect(() => relay.setDelay({ delayMs: -1, jitterMs: 0 })).toThrow(/≥ 0/);
    expect(relay.delay).toEqual({ delayMs: 5, jitterMs: 1 });
  });
});
