// Issue 11, item 8: start-up conditions an operator expects end in clear log lines and one error
// line — a wrong bin_dir (ConfigError naming file and key, exit 2), etcd not reachable yet
// (bounded backoff, then StartupError), the REST port in use (bounded retry, then one line).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../agent/config/errors.js';
import { systemClock } from '../../../agent/clock.js';
import { createLogger } from '../../../agent/log.js';
import {
  REQUIRED_PG_PROGRAMS, StartupAborted, StartupError, checkBinDir, listenOrExplain, waitForEtcd,
} from '../../../agent/daemon/startup.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pgw-startup-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { logger: createLogger({ level: 'info', format: 'json', destination }), lines };
}

function binDirWith(programs: readonly string[], mode = 0o755): string {
  const d = join(tmp(), 'bin');
  mkdirSync(d);
  for (const p of programs) {
    writeFileSync(join(d, p), '#!/bin/sh\n');
    chmodSync(join(d, p), mode);
  }
  return d;
}

describe('checkBinDir', () => {
  const FILE = '/etc/pgwarden/pgwarden.yml';

  function problem(binDir: string): ConfigError {
    try {
      checkBinDir(binDir, FILE);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('checkBinDir accepted it');
  }

  it('accepts a directory with every program', () => {
    expect(() => checkBinDir(binDirWith(REQUIRED_PG_PROGRAMS), FILE)).not.toThrow();
  });

  it('names the file and key when the directory does not exist', () => {
    const e = problem('/usr/lib/postgresql/99/bin');
    expect(e.format()).toMatch(/^\/etc\/pgwarden\/pgwarden\.yml: postgresql\.bin_dir: "\/usr\/lib\/postgresql\/99\/bin" does not exist/);
  });

  it('names the missing programs', () => {
    const e = problem(binDirWith(['postgres', 'initdb']));
    expect(e.keyPath).toBe('postgresql.bin_dir');
    expect(e.format()).toMatch(/has no pg_basebackup, pg_controldata, pg_rewind/);
  });

  it('a file in place of the directory', () => {
    const f = join(tmp(), 'file');
    writeFileSync(f, '');
    expect(problem(f).format()).toMatch(/is not a directory/);
  });

  it('programs that are not executable (root too: no execute bit at all)', () => {
    expect(problem(binDirWith(REQUIRED_PG_PROGRAMS, 0o644)).format()).toMatch(/not executable/);
  });
});

describe('waitForEtcd', () => {
  it('retries with a doubling delay and logs one WARN per failure, no stack, then INFO once etcd answers', async () => {
    const { logger, lines } = capture();
    let calls = 0;
    const probe = async () => {
      calls++;
      if (calls < 4) throw new Error('14 UNAVAILABLE: No connection established\n    at Object.callErrorFromStatus (node_modules/...)');
    };
    await waitForEtcd({ probe, hosts: ['10.0.0.1:2379'], clock: systemClock, logger, firstDelayMs: 10, maxDelayMs: 25, deadlineMs: 5_000 });
    expect(calls).toBe(4);
    const warns = lines.filter((l) => l['level'] === 40);
    expect(warns.map((w) => w['retry_in_ms'])).toEqual([10, 20, 25]);
    for (const w of warns) {
      expect(w['msg']).toMatch(/^etcd is not reachable \(14 UNAVAILABLE: No connection established at Object/);
      expect(JSON.stringify(w)).not.toMatch(/\\n|"stack"/);
    }
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: 'etcd is reachable; starting', attempts: 4 });
  });

  it('gives up at its deadline with a StartupError naming the hosts and the last error', async () => {
    const { logger, lines } = capture();
    let calls = 0;
    const probe = async () => { calls++; throw new Error('connect ECONNREFUSED 10.0.0.1:2379'); };
    const started = Date.now();
    const err = await waitForEtcd({ probe, hosts: ['10.0.0.1:2379'], clock: systemClock, logger, firstDelayMs: 20, maxDelayMs: 40, deadlineMs: 300 })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).exitCode).toBe(1);
    expect((err as Error).message).toMatch(/^etcd \(10\.0\.0\.1:2379\) did not answer within 0 s \(last error: connect ECONNREFUSED 10\.0\.0\.1:2379\); check etcd\.hosts/);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThan(20);
    expect(lines.filter((l) => l['level'] === 40)).toHaveLength(calls - 1);
  });

  it('a probe that hangs is bounded by the attempt timeout', async () => {
    const { logger } = capture();
    const err = await waitForEtcd({
      probe: () => new Promise(() => undefined), hosts: ['h:1'], clock: systemClock, logger,
      firstDelayMs: 10, deadlineMs: 150, attemptTimeoutMs: 50,
    }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toMatch(/no answer within 50 ms/);
  });

  it('ends at once with StartupAborted when the signal aborts (SIGTERM while waiting)', async () => {
    const { logger } = capture();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const err = await waitForEtcd({
      probe: async () => { throw new Error('down'); }, hosts: ['h:1'], clock: systemClock, logger,
      firstDelayMs: 10_000, deadlineMs: 60_000, signal: ac.signal,
    }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(StartupAborted);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('listenOrExplain', () => {
  async function holdPort(): Promise<{ server: Server; port: number }> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return { server, port: (server.address() as { port: number }).port };
  }

  function listenOn(port: number): () => Promise<string> {
    return () => new Promise((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => { cleanups.push(() => new Promise<void>((r) => s.close(() => r()))); resolve(`127.0.0.1:${port}`); });
    });
  }

  it('a port that stays in use: one StartupError line naming the address and restapi.listen', async () => {
    const { port } = await holdPort();
    const { logger, lines } = capture();
    const err = await listenOrExplain(listenOn(port), `127.0.0.1:${port}`, { clock: systemClock, logger, deadlineMs: 120, delayMs: 40 })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toBe(
      `REST API cannot listen on 127.0.0.1:${port} (restapi.listen): address already in use (another pgwarden agent or program holds the port)`);
    expect(lines.filter((l) => l['level'] === 40).length).toBeGreaterThanOrEqual(2);
  });

  it('a port freed while it retries is taken', async () => {
    const { server, port } = await holdPort();
    const { logger } = capture();
    setTimeout(() => server.close(), 100);
    await expect(listenOrExplain(listenOn(port), `127.0.0.1:${port}`, { clock: systemClock, logger, deadlineMs: 3_000, delayMs: 50 }))
      .resolves.toBe(`127.0.0.1:${port}`);
  });
});
