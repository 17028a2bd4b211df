// PostgresAdapter against real PostgreSQL 15: bootstrap, clone, crash restart, promotion, rewind,
// follow, slots, adoption. The steps build on each other (one small cluster: a, b, c).
import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotNameFor } from '../../../agent/core/slots.js';
import { PostgresAdapter, type Owner } from '../../../agent/postgres/index.js';
import type { Upstream } from '../../../agent/ports/ports.js';
import {
  freePort, makeRoot, pgSettings, postgresUnder, requirePreconditions, sql, testLogger, waitFor,
} from './support.js';

interface Node {
  readonly name: string;
  readonly pg: PostgresAdapter;
  readonly up: Upstream;
  readonly lines: string[];
  readonly exits: { at: number; code: number | null; signal: string | null }[];
}

const owner: Owner = requirePreconditions();
let root = '';
const nodes = new Map<string, Node>();
const extra: PostgresAdapter[] = [];

async function makeNode(name: string): Promise<Node> {
  const port = await freePort();
  const { logger, lines } = testLogger(name);
  const pg = new PostgresAdapter({ name, pg: pgSettings(root, name, port), logger, runAs: owner, startTimeoutMs: 30_000 });
  const node: Node = { name, pg, up: { name, host: '127.0.0.1', port }, lines, exits: [] };
  pg.onUnexpectedExit((code, signal) => node.exits.push({ at: performance.now(), code, signal }));
  nodes.set(name, node);
  return node;
}

function node(name: string): Node {
  const n = nodes.get(name);
  if (!n) throw new Error(`node ${name} not created (an earlier step failed)`);
  return n;
}

async function postmasterPid(dataDir: string): Promise<number> {
  const text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  return Number(text.split('\n')[0]);
}

beforeAll(async () => {
  root = await makeRoot(owner);
});

afterAll(async () => {
  // Never leave a postmaster behind, whatever failed above.
  const all = [...nodes.values()].map((n) => n.pg).concat(extra);
  await Promise.allSettled(all.map((p) => p.stop('immediate')));
  let left = await postgresUnder(root);
  for (const pid of left) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  if (left.length > 0) await new Promise((r) => setTimeout(r, 500));
  left = await postgresUnder(root);
  if (!process.env.PGWARDEN_KEEP_TMP) await fs.rm(root, { recursive: true, force: true });
  expect(left, 'postgres processes left behind').toEqual([]);
});

describe('PostgresAdapter (real PostgreSQL 15)', () => {
  it('refuses to run as root without runAs', () => {
    const { logger } = testLogger('x');
    expect(() => new PostgresAdapter({ name: 'x', pg: pgSettings('/tmp', 'x', 5999), logger }))
      .toThrow(/runs as root.*runAs/);
  });

  it('initdb, start as primary, probe', async () => {
    const a = await makeNode('a');
    const before = await a.pg.probe();
    expect(before).toMatchObject({ dataDir: 'empty', process: 'stopped', role: null });

    await a.pg.initdb();
    const dataDir = a.pg.dataDir;
    const st = await fs.stat(dataDir);
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(owner.uid);
    const conf = await fs.readFile(path.join(dataDir, 'postgresql.conf'), 'utf8');
    expect(conf).toMatch(/^include 'postgresql\.base\.conf'$/m);
    expect(conf).not.toContain('su-secret');
    await fs.access(path.join(dataDir, 'postgresql.base.conf'));
    const hba = await fs.readFile(path.join(dataDir, 'pg_hba.conf'), 'utf8');
    expect(hba.indexOf('# operator line')).toBeLessThan(hba.indexOf('host    replication'));

    const stopped = await a.pg.probe();
    expect(stopped).toMatchObject({ dataDir: 'initialized', process: 'stopped', controlState: 'shut down', timeline: 1 });
    expect(stopped.systemId).toMatch(/^\d+$/);

    await a.pg.configurePrimary();
    await a.pg.start();
    await a.pg.postBootstrap();
    const v = await a.pg.probe();
    expect(v).toMatchObject({ process: 'running', role: 'primary', timeline: 1, systemId: stopped.systemId, controlState: 'in production' });
    expect(v.walLsn).toBeGreaterThan(0);
    const roles = await sql(a.pg.localConnection(), "SELECT rolreplication, rolcanlogin FROM pg_roles WHERE rolname = 'replicator'");
    expect(roles).toEqual([{ rolreplication: true, rolcanlogin: true }]);
    // The password really works over TCP (SCRAM verifier computed by the adapter).
    const viaTcp = await sql({ host: '127.0.0.1', port: a.up.port, user: 'postgres', password: 'su-secret', database: 'postgres' }, 'SELECT 1 AS one');
    expect(viaTcp).toEqual([{ one: 1 }]);
    await sql(a.pg.localConnection(), 'CREATE TABLE t (id int primary key, origin text)');
    await sql(a.pg.localConnection(), "INSERT INTO t VALUES (1, 'a')");
    expect(a.lines.join('')).not.toContain('su-secret');
  });

  it('basebackup a replica that streams from the primary', async () => {
    const a = node('a');
    const b = await makeNode('b');
    await a.pg.syncSlots([slotNameFor('b')]);
    await b.pg.basebackup(a.up);
    const cloned = await b.pg.probe();
    expect(cloned).toMatchObject({ dataDir: 'initialized', process: 'stopped', upstream: 'a' });
    expect(b.lines.join('')).toContain('pg_basebackup done');

    await b.pg.configureStandby(a.up);
    await b.pg.start();
    const v = await waitFor('b streaming', async () => {
      const p = await b.pg.probe();
      return p.streaming ? p : null;
    });
    expect(v).toMatchObject({ role: 'replica', upstream: 'a', timeline: 1, systemId: (await a.pg.probe()).systemId });
    await sql(a.pg.localConnection(), "INSERT INTO t VALUES (2, 'a')");
    const target = (await a.pg.probe()).walLsn!;
    await waitFor('b received the insert', async () => ((await b.pg.probe()).receivedLsn ?? 0) >= target);
    const rows = await a.pg.replication();
    expect(rows.map((r) => [r.application_name, r.state])).toEqual([['b', 'streaming']]);
    expect(rows[0]!.replay_lsn).toBeGreaterThan(0);
  });

  it('reports a killed postmaster at once and starts again', async () => {
    const b = node('b');
    const pid = await postmasterPid(b.pg.dataDir);
    const t0 = performance.now();
    process.kill(pid, 'SIGKILL');
    await waitFor('onUnexpectedExit', async () => b.exits.length > 0, 2000, 5);
    expect(b.exits[0]!.at - t0).toBeLessThan(500);
    expect(b.exits[0]!.signal).toBe('SIGKILL');
    expect((await b.pg.probe()).process).toBe('crashed');

    await b.pg.start(); // stale postmaster.pid, orphaned backends: handled
    await waitFor('b streaming again', async () => (await b.pg.probe()).streaming);
    expect(b.exits).toHaveLength(1);
  });

  it('syncSlots creates missing slots and drops inactive unwanted ones', async () => {
    const a = node('a');
    const slots = async (): Promise<string[]> =>
      (await sql<{ slot_name: string }>(a.pg.localConnection(), 'SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map((r) => r.slot_name);
    await a.pg.syncSlots(['b', 'spare']);
    expect(await slots()).toEqual(['b', 'spare']);
    await a.pg.syncSlots(['b']);
    expect(await slots()).toEqual(['b']);
    await a.pg.syncSlots([]); // b is active: kept
    expect(await slots()).toEqual(['b']);
  });

  it('promotes the replica; the diverged old primary is rewound and follows it', async () => {
    const a = node('a');
    const b = node('b');
    await b.pg.promote();
    const pb = await b.pg.probe();
    expect(pb).toMatchObject({ role: 'primary', timeline: 2, upstream: null });
    await sql(b.pg.localConnection(), "INSERT INTO t VALUES (3, 'b')");
    // Divergence: the old primary keeps writing after the promotion, then is fenced.
    await sql(a.pg.localConnection(), "INSERT INTO t VALUES (4, 'a-diverged')");
    await a.pg.stop('immediate');
    const pa = await a.pg.probe();
    expect(pa).toMatchObject({ process: 'stopped', controlState: 'in production' });
    expect(a.exits).toHaveLength(0);

    await b.pg.syncSlots([slotNameFor('a')]);
    expect(await a.pg.rewind(b.up)).toBe('rewound');
    await a.pg.configureStandby(b.up);
    await a.pg.start();
    const va = await waitFor('a streaming from b', async () => {
      const p = await a.pg.probe();
      return p.streaming ? p : null;
    });
    expect(va).toMatchObject({ role: 'replica', upstream: 'b', timeline: 2 });
    await sql(b.pg.localConnection(), "INSERT INTO t VALUES (5, 'b')");
    const target = (await b.pg.probe()).walLsn!;
    await waitFor('a replayed b', async () => ((await a.pg.probe()).replayedLsn ?? 0) >= target);
    const rows = await sql<{ id: number }>(a.pg.localConnection(), 'SELECT id FROM t ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 5]);

    // No divergence now: a second rewind has nothing to do.
    await a.pg.stop('fast');
    expect(await a.pg.rewind(b.up)).toBe('not_needed');
    await a.pg.configureStandby(b.up);
    await a.pg.start();
    await waitFor('a streaming again', async () => (await a.pg.probe()).streaming);
  });

  it('follow() switches the upstream with a reload', async () => {
    const a = node('a');
    const b = node('b');
    const c = await makeNode('c');
    await b.pg.syncSlots([slotNameFor('a'), slotNameFor('c')]);
    await c.pg.basebackup(b.up);
    await c.pg.configureStandby(b.up);
    await c.pg.start();
    await waitFor('c streaming from b', async () => (await c.pg.probe()).streaming);
    const pid = await postmasterPid(c.pg.dataDir);

    await a.pg.syncSlots([slotNameFor('c')]); // cascading: a (a standby) keeps a slot for c
    await c.pg.follow(a.up);
    const vc = await waitFor('c streaming from a', async () => {
      const p = await c.pg.probe();
      const onA = await a.pg.replication();
      return p.streaming && onA.some((r) => r.application_name === 'c' && r.state === 'streaming') ? p : null;
    });
    expect(vc).toMatchObject({ upstream: 'a', role: 'replica', timeline: 2 });
    expect(await postmasterPid(c.pg.dataDir)).toBe(pid); // no restart
    await expect(b.pg.follow(a.up)).rejects.toThrow(/primary/);
  });

  it('adopts a running postmaster, handles a stale pid file, stop is idempotent', async () => {
    const c = node('c');
    const { logger } = testLogger('c2');
    const c2 = new PostgresAdapter({ name: 'c', pg: pgSettings(root, 'c', c.up.port), logger, runAs: owner });
    extra.push(c2);
    const exits2: unknown[] = [];
    c2.onUnexpectedExit(() => exits2.push(1));
    expect(await c2.probe()).toMatchObject({ process: 'running', role: 'replica', upstream: 'a' });
    await c2.start(); // already running: adopts, no second postmaster
    await c2.stop('fast');
    expect(await c2.probe()).toMatchObject({ process: 'stopped', controlState: 'shut down in recovery' });
    expect(exits2).toEqual([]);
    await waitFor('c saw its child exit', async () => c.exits.length === 1, 2000, 10);
    await c2.stop('fast');

    // A postmaster.pid naming a live unrelated process (pid reuse) must not block the start.
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pidFile = path.join(c.pg.dataDir, 'postmaster.pid');
      await fs.writeFile(pidFile, `${sleeper.pid}\n${c.pg.dataDir}\n0\n${c.up.port}\n/tmp\n127.0.0.1\n0 0\nready   \n`);
      execFileSync('chown', [`${owner.uid}:${owner.gid}`, pidFile]);
      await c.pg.start();
      expect(await c.pg.probe()).toMatchObject({ process: 'running', role: 'replica' });
    } finally {
      sleeper.kill('SIGKILL');
    }
    await c.pg.stop('immediate');
    await c.pg.stop('immediate');
    expect((await c.pg.probe()).process).toBe('stopped');
  });

  it('stop() during start() wins: nothing is left running and no crash is reported', async () => {
    const c = node('c');
    const exitsBefore = c.exits.length;
    const queued = c.pg.start().then(() => null, (err: unknown) => err);
    await c.pg.stop('immediate');
    expect(String(await queued)).toMatch(/aborted/);
    expect((await c.pg.probe()).process).toBe('stopped');

    const spawning = c.pg.start().catch(() => undefined); // ready first or aborted: either way it must end stopped
    await waitFor('postmaster starting', async () => (await c.pg.probe()).process === 'starting', 5000, 1);
    await c.pg.stop('immediate');
    await spawning;
    expect((await c.pg.probe()).process).toBe('stopped');
    expect(c.exits.length).toBe(exitsBefore);
  });

  it('removeDataDir refuses while running and empties the node when stopped', async () => {
    const c = node('c');
    await c.pg.start();
    await expect(c.pg.removeDataDir()).rejects.toThrow(/running/);
    await c.pg.stop('fast');
    await c.pg.removeDataDir();
    expect(await c.pg.probe()).toMatchObject({ dataDir: 'empty', process: 'stopped' });
  });
});
