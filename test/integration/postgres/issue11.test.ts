// Issue 11 against real PostgreSQL 15, driven by the SHIPPED decision core and runtime actions
// (decide() + execute()) over the real PostgresAdapter; only etcd's cluster view is written by hand.
//  item 2:  pg_rewind against a leader that refuses connections must not wipe the data directory
//           (it used to: rewind 'failed' → rebuild → data dir removed → base backup refused too);
//           a rebuild keeps the old data directory aside until the new copy started.
//  item 10: a PostgreSQL port held by another listener is a start failure, retried with backoff
//           and reported with PostgreSQL's message, never a rewind or a rebuild.
//  item 13/14: cluster-wide parameters reach PostgreSQL (local ones win); pending_restart is real.
//  item 17: a configured password the server refuses is reported (without the secret).
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../agent/clock.js';
import { toHaSettings } from '../../../agent/config/dynamic.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { decide } from '../../../agent/core/decide.js';
import { slotNameFor } from '../../../agent/core/slots.js';
import { NO_TAGS, type ClusterView, type Decision, type LocalView, type MemberRecord, type RetryState } from '../../../agent/core/types.js';
import { createLogger } from '../../../agent/log.js';
import { PostgresAdapter, type Owner } from '../../../agent/postgres/index.js';
import type { PostgresNode, Upstream } from '../../../agent/ports/ports.js';
import { execute } from '../../../agent/runtime/actions.js';
import { newSyncBarrier, type ActionContext } from '../../../agent/runtime/action-context.js';
import type { LeaseKeeper } from '../../../agent/runtime/lease-keeper.js';
import {
  SUPERUSER_PASSWORD, freePort, makeRoot, pgSettings, postgresUnder, requirePreconditions, sql, testLogger, waitFor,
} from './support.js';

const owner: Owner = requirePreconditions();
let root = '';
const adapters: PostgresAdapter[] = [];
const settings = toHaSettings(DEFAULT_DYNAMIC_CONFIG);

async function adapter(name: string, port?: number): Promise<{ pg: PostgresAdapter; up: Upstream; lines: string[] }> {
  const p = port ?? await freePort();
  const { logger, lines } = testLogger(name);
  const pg = new PostgresAdapter({ name, pg: pgSettings(root, name, p), logger, runAs: owner, startTimeoutMs: 30_000 });
  adapters.push(pg);
  return { pg, up: { name, host: '127.0.0.1', port: p }, lines };
}

function member(name: string, port: number, state: MemberRecord['state'] = 'running'): MemberRecord {
  return {
    name, apiUrl: `http://127.0.0.1:1/${name}`, connUrl: `postgres://127.0.0.1:${port}/postgres`, host: '127.0.0.1', port,
    role: 'primary', state, timeline: 1, walLsn: null, receivedLsn: null, replayedLsn: null, tags: NO_TAGS, version: 'test',
  };
}

function clusterView(systemId: string, leader: MemberRecord): ClusterView {
  return {
    initialize: { state: 'done', systemId }, leader: leader.name, members: [leader], status: null, failover: null, sync: null,
    history: [], paused: false,
  };
}

/** The HA loop's per-node state that the rewind/start rules read, around decide() + execute(). */
class Driver {
  offsetMs = 0;
  rewindFailed = false;
  rewindRetry: RetryState | null = null;
  startRetry: RetryState | null = null;
  readonly calls: string[] = [];
  readonly decisions: Decision[] = [];
  readonly errors: string[] = [];
  readonly ctx: ActionContext;

  constructor(readonly name: string, readonly real: PostgresAdapter) {
    const calls = this.calls;
    const pg = new Proxy(real, {
      get: (target, prop) => {
        const v = (target as unknown as Record<string | symbol, unknown>)[prop];
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => { calls.push(String(prop)); return (v as (...a: unknown[]) => unknown).apply(target, args); };
      },
    }) as unknown as PostgresNode;
    this.ctx = {
      name, dcs: {} as never, pg, lease: { deadline: 1e15, arm: () => undefined, renewNow: async () => true } as unknown as LeaseKeeper,
      clock: { ...systemClock, now: () => this.now() }, logger: createLogger({ level: 'silent', format: 'json' }),
      race: {} as never, bootstrapConfig: DEFAULT_DYNAMIC_CONFIG, useSlots: () => true, dynamic: () => DEFAULT_DYNAMIC_CONFIG,
      settings: () => settings, peerTimeoutMs: () => 1000, progress: () => undefined,
      holdsKey: () => false, lastStatus: () => null, membersSeen: new Map(), syncBarrier: newSyncBarrier(),
    };
  }

  now(): number {
    return performance.now() + this.offsetMs;
  }

  /** Let every retry delay pass. */
  later(): void {
    this.offsetMs += 3_600_000;
  }

  async cycle(cluster: ClusterView): Promise<Decision> {
    const pg = await this.real.probe();
    if (pg.process === 'running') this.startRetry = null;
    const local: LocalView = {
      name: this.name, tags: NO_TAGS, now: this.now(), dcsReachable: true, leaseDeadline: this.now() + 10_000,
      holdsLeaderKey: false, holdsInitializeClaim: false, pg, pgDownSince: null, notStreamingSince: null, cleanHandover: false,
      wallNow: Date.now(), rewindFailed: this.rewindFailed, rewindRetry: this.rewindRetry, startRetry: this.startRetry,
    };
    const d = decide(cluster, local, settings);
    this.decisions.push(d);
    try {
      // Fold the outcome into this stand-in's state, as HaLoop does.
      const o = await execute(this.ctx, d, cluster, 1, local);
      if (o.rewindFailed !== undefined) this.rewindFailed = o.rewindFailed;
      if (o.rewindRetry !== undefined) this.rewindRetry = o.rewindRetry;
      if (o.startRetry !== undefined) this.startRetry = o.startRetry;
    } catch (err) {
      this.errors.push(String(err));
    }
    return d;
  }
}

beforeAll(async () => {
  root = await makeRoot(owner);
});

afterAll(async () => {
  await Promise.allSettled(adapters.map((p) => p.stop('immediate')));
  let left = await postgresUnder(root);
  for (const pid of left) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  if (left.length > 0) await new Promise((r) => setTimeout(r, 500));
  left = await postgresUnder(root);
  if (!process.env.PGWARDEN_KEEP_TMP) await fs.rm(root, { recursive: true, force: true });
  expect(left, 'postgres processes left behind').toEqual([]);
});

let a: Awaited<ReturnType<typeof adapter>> | null = null;
let systemId = '';
let primary: Awaited<ReturnType<typeof adapter>> | null = null;

/** A running primary "l" the later steps clone from (independent of step 1's outcome). */
async function leaderNode(): Promise<Awaited<ReturnType<typeof adapter>>> {
  if (primary) return primary;
  const l = await adapter('l');
  await l.pg.initdb();
  await l.pg.configurePrimary();
  await l.pg.start();
  await l.pg.postBootstrap();
  primary = l;
  return l;
}

async function systemIdOf(pg: PostgresAdapter): Promise<string> {
  return (await pg.probe()).systemId!;
}

describe('issue 11 with real PostgreSQL 15', () => {
  it('item 2: pg_rewind against a leader that refuses connections keeps the former primary\'s data (retried, never rebuilt)', async () => {
    a = await adapter('a');
    await a.pg.initdb();
    await a.pg.configurePrimary();
    await a.pg.start();
    await a.pg.postBootstrap();
    systemId = (await a.pg.probe()).systemId!;
    await sql(a.pg.localConnection(), "CREATE TABLE t (id int primary key, v text); INSERT INTO t VALUES (1, 'only on the former primary')");
    await a.pg.stop('fast');
    expect(await a.pg.probe()).toMatchObject({ process: 'stopped', controlState: 'shut down' });

    // The new leader "x" is published as running, but its PostgreSQL refuses connections (restarting).
    const refused = await freePort();
    const cluster = clusterView(systemId, member('x', refused));
    const drv = new Driver('a', a.pg);
    await drv.cycle(cluster);
    await drv.cycle(cluster); // before the retry delay
    for (let i = 0; i < 3; i++) {
      drv.later();
      await drv.cycle(cluster);
    }
    // Data safety first: nothing removed, nothing rebuilt, the data directory is still there.
    expect(drv.calls.filter((c) => ['removeDataDir', 'setAsideDataDir', 'basebackup'].includes(c))).toEqual([]);
    expect(drv.decisions.map((d) => d.action.kind)).not.toContain('rebuild');
    expect(await fs.stat(path.join(a.pg.dataDir, 'PG_VERSION')).then(() => true, () => false)).toBe(true);
    // How: the refusal is transient; it waited for the retry delay, then tried again (4 attempts).
    expect(drv.decisions.map((d) => d.rule)).toEqual([
      'follower.rewind', 'follower.rewind-retry', 'follower.rewind', 'follower.rewind', 'follower.rewind',
    ]);
    expect(drv.decisions[1]!.reason).toMatch(/pg_rewind against x failed transiently \(1 attempt\): .*(connect|refused).*keeping my data and retrying in/i);
    expect(drv.rewindRetry).toMatchObject({ attempts: 4, leader: 'x' });
    expect(drv.rewindFailed).toBe(false);
    await a.pg.configurePrimary();
    await a.pg.start();
    const rows = await sql<{ v: string }>(a.pg.localConnection(), 'SELECT v FROM t');
    expect(rows.map((r) => r.v)).toEqual(['only on the former primary']);
  });

  it('item 10: a port held by another listener is a start failure with PostgreSQL\'s message, retried with backoff, never a rewind or rebuild', async () => {
    const leader = await leaderNode();
    systemId = await systemIdOf(leader.pg);
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const p = await adapter('p', port);
      await leader.pg.syncSlots([slotNameFor('p')]);
      await p.pg.basebackup(leader.up);
      // A fresh clone: its control file was copied from a running primary ("in production").
      expect(await p.pg.probe()).toMatchObject({ process: 'stopped', controlState: 'in production' });
      const cluster = clusterView(systemId, member('a', leader.up.port));
      const drv = new Driver('p', p.pg);
      await drv.cycle(cluster);
      await drv.cycle(cluster); // before the retry delay
      for (let i = 0; i < 3; i++) {
        drv.later();
        await drv.cycle(cluster);
      }
      // Never a rewind or a rebuild of a node that merely could not start.
      expect(drv.calls.filter((c) => ['rewind', 'setAsideDataDir', 'removeDataDir', 'basebackup'].includes(c))).toEqual([]);
      expect(drv.decisions.map((d) => d.rule)).toEqual(['follower.start', 'start.backoff', 'follower.start', 'follower.start', 'follower.start']);
      expect(drv.decisions[1]!.reason).toMatch(/could not start \(1 failed attempt\): .*could not bind IPv4 address "127\.0\.0\.1": Address already in use.*retrying in/);
      expect(drv.startRetry).toMatchObject({ attempts: 4, error: expect.stringMatching(/Address already in use; could not create any TCP\/IP sockets/) });
      expect(drv.errors).toEqual([]);
      // The port is free again: the next attempt starts the replica, which streams.
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      drv.later();
      expect(await drv.cycle(cluster)).toMatchObject({ rule: 'follower.start' });
      expect(drv.startRetry).toBeNull();
      await waitFor('p streaming from a', async () => (await p.pg.probe()).streaming);
      await p.pg.stop('fast');
    } finally {
      if (holder.listening) holder.close();
    }
  });

  it('item 2: a rebuild keeps the old data directory aside (at most one) and drops it once the new copy started', async () => {
    const leader = await leaderNode();
    systemId = await systemIdOf(leader.pg);
    const b = await adapter('b');
    await leader.pg.syncSlots([slotNameFor('p'), slotNameFor('b')]);
    await b.pg.basebackup(leader.up);
    await b.pg.start();
    await b.pg.stop('fast');
    const kept1 = await b.pg.setAsideDataDir();
    expect(kept1).toMatch(/data\.pgwarden-old-/);
    expect(await fs.stat(path.join(kept1!, 'PG_VERSION'))).toBeTruthy();
    expect(await fs.stat(b.pg.dataDir).then(() => true, () => false)).toBe(false);
    await b.pg.basebackup(leader.up);
    const kept2 = await b.pg.setAsideDataDir();
    expect(kept2).not.toBe(kept1);
    const siblings = (await fs.readdir(path.dirname(b.pg.dataDir))).filter((n) => n.includes('pgwarden-old-'));
    expect(siblings).toEqual([path.basename(kept2!)]);
    // Through the runtime: clone, start, and the kept copy goes.
    const drv = new Driver('b', b.pg);
    expect(await drv.cycle(clusterView(systemId, member('a', leader.up.port)))).toMatchObject({ rule: 'clone.from-leader' });
    expect(drv.errors).toEqual([]);
    expect((await fs.readdir(path.dirname(b.pg.dataDir))).filter((n) => n.includes('pgwarden-old-'))).toEqual([]);
    await b.pg.stop('fast');
  });

  it('items 13/14: cluster-wide parameters reach PostgreSQL (the node\'s own win) and restart-only changes show as pending_restart', async () => {
    const leader = await leaderNode();
    systemId = await systemIdOf(leader.pg);
    const show = async (name: string) => (await sql<{ v: string }>(leader.pg.localConnection(), `SELECT current_setting('${name}') AS v`))[0]!.v;
    expect(await show('work_mem')).toBe('4MB');
    expect(await leader.pg.applyParameters({ work_mem: '64MB', shared_buffers: '32MB', max_locks_per_transaction: 128 })).toBe(true);
    expect(await leader.pg.applyParameters({ max_locks_per_transaction: 128, shared_buffers: '32MB', work_mem: '64MB' })).toBe(false);
    await waitFor('work_mem reloaded', async () => (await show('work_mem')) === '64MB');
    expect(await show('shared_buffers')).toBe('16MB'); // the node's own postgresql.parameters win
    await waitFor('pending_restart', async () => (await leader.pg.probe()).pendingRestart === true);
    await leader.pg.stop('fast');
    await leader.pg.start();
    expect(await show('max_locks_per_transaction')).toBe('128');
    expect(await show('work_mem')).toBe('64MB');
    expect((await leader.pg.probe()).pendingRestart).toBe(false);
  });

  it('item 17: a configured password the server refuses is reported, without the secret', async () => {
    const leader = await leaderNode();
    systemId = await systemIdOf(leader.pg);
    await leader.pg.checkCredentials();
    expect((await leader.pg.probe()).credentialErrors).toBeUndefined();
    await sql(leader.pg.localConnection(), "ALTER ROLE postgres PASSWORD 'changed-behind-our-back'");
    await leader.pg.checkCredentials();
    const view = await leader.pg.probe();
    expect(view.credentialErrors).toEqual([
      { credential: 'superuser', username: 'postgres', error: expect.stringMatching(/password authentication failed for user "postgres"/) },
    ]);
    expect(JSON.stringify(view)).not.toContain(SUPERUSER_PASSWORD);
    await sql(leader.pg.localConnection(), `ALTER ROLE postgres PASSWORD '${SUPERUSER_PASSWORD}'`);
    await leader.pg.checkCredentials();
    expect((await leader.pg.probe()).credentialErrors).toBeUndefined();
  });
});
