// The rewind and start actions (issue 11 items 2 and 10): a transient pg_rewind failure keeps the
// data directory and is retried with a growing delay; only an impossible rewind marks the node for
// a rebuild; a rebuild sets the old data directory aside and deletes it only after the fresh copy
// started; a failed start is recorded with PostgreSQL's message and retried, never rethrown.
import { describe, expect, it } from 'vitest';
import { recorder } from '../../harness/recorder.js';
import { systemClock } from '../../../agent/clock.js';
import { execute, rewindRetryDelayMs, startRetryDelayMs } from '../../../agent/runtime/actions.js';
import { newSyncBarrier, type ActionContext } from '../../../agent/runtime/action-context.js';
import type { LeaseKeeper } from '../../../agent/runtime/lease-keeper.js';
import type { Dcs, PostgresNode, RewindOutcome } from '../../../agent/ports/ports.js';
import type { Decision, LocalView, RetryState } from '../../../agent/core/types.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { createLogger } from '../../../agent/log.js';
import { cluster, local, pgStopped, settings } from '../core/builders.js';

const NOW = 50_000;


interface Seen { calls: string[]; rewindFailed: boolean[]; rewindRetry: (RetryState | null)[]; startRetry: (RetryState | null)[]; logs: { level: string; msg: string }[] }

function context(pg: Partial<PostgresNode>): { ctx: ActionContext; seen: Seen } {
  const seen: Seen = { calls: [], rewindFailed: [], rewindRetry: [], startRetry: [], logs: [] };
  const logger = createLogger({ level: 'silent', format: 'json' });
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    (logger as unknown as Record<string, unknown>)[level] = (_o: unknown, msg: string) => { seen.logs.push({ level, msg }); };
  }
  const ctx: ActionContext = {
    name: 'b', dcs: recorder<Dcs>({}, seen.calls), pg: recorder<PostgresNode>(pg, seen.calls),
    lease: { deadline: 1e12, arm: () => undefined, renewNow: async () => true } as unknown as LeaseKeeper,
    clock: { ...systemClock, now: () => NOW, wallNow: () => NOW }, logger,
    race: {} as never, bootstrapConfig: DEFAULT_DYNAMIC_CONFIG, useSlots: () => true, dynamic: () => DEFAULT_DYNAMIC_CONFIG,
    settings: () => settings, peerTimeoutMs: () => 1000, progress: () => undefined,
    holdsKey: () => false, lastStatus: () => null, membersSeen: new Map(), syncBarrier: newSyncBarrier(),
  };
  return { ctx, seen };
}

/** execute(), recording what its outcome tells the loop to fold. */
async function run(seen: Seen, ...args: Parameters<typeof execute>): Promise<void> {
  const o = await execute(...args);
  if (o.rewindFailed !== undefined) seen.rewindFailed.push(o.rewindFailed);
  if (o.rewindRetry !== undefined) seen.rewindRetry.push(o.rewindRetry);
  if (o.startRetry !== undefined) seen.startRetry.push(o.startRetry);
}

const REWIND: Decision = { action: { kind: 'rewind', leader: 'a' }, reason: 'test', rule: 'follower.rewind' };
const REBUILD: Decision = { action: { kind: 'rebuild', leader: 'a' }, reason: 'test', rule: 'follower.rebuild-after-rewind-failed' };
const START: Decision = { action: { kind: 'start_replica', leader: 'a' }, reason: 'test', rule: 'follower.start' };
const formerPrimary = (patch: Partial<LocalView> = {}) => local(pgStopped('in production'), patch);

describe('rewind action', () => {
  it('a transient failure (source refused) keeps the data directory and schedules a retry', async () => {
    const refused = new Error('rewind: pg_rewind: error: could not connect to server: Connection refused');
    const { ctx, seen } = context({ rewind: async () => { throw refused; } });
    await run(seen, ctx, REWIND, cluster(), 1, formerPrimary());
    expect(seen.calls).not.toContain('removeDataDir');
    expect(seen.calls).not.toContain('setAsideDataDir');
    expect(seen.calls).not.toContain('start');
    expect(seen.rewindFailed).toEqual([]);
    expect(seen.rewindRetry).toEqual([{ attempts: 1, retryAt: NOW + 2000, error: 'pg_rewind: error: could not connect to server: Connection refused', leader: 'a' }]);
    expect(seen.logs.filter((l) => l.level === 'warn')).toHaveLength(1);
  });

  it('counts attempts against the same leader, logs a repeated error at debug, and alerts after 10', async () => {
    const { ctx, seen } = context({ rewind: async () => { throw new Error('rewind: timeout'); } });
    await run(seen, ctx, REWIND, cluster(), 1, formerPrimary({ rewindRetry: { attempts: 3, retryAt: NOW - 1, error: 'timeout', leader: 'a' } }));
    expect(seen.rewindRetry.at(-1)).toMatchObject({ attempts: 4, retryAt: NOW + rewindRetryDelayMs(4) });
    expect(seen.logs.map((l) => l.level)).not.toContain('warn');
    await run(seen, ctx, REWIND, cluster(), 1, formerPrimary({ rewindRetry: { attempts: 9, retryAt: NOW - 1, error: 'timeout', leader: 'a' } }));
    expect(seen.logs.find((l) => l.level === 'error')?.msg).toMatch(/failed 10 times in a row.*data directory is kept.*ctl reinit/);
    // Against another leader the count starts again.
    await run(seen, ctx, REWIND, cluster(), 1, formerPrimary({ rewindRetry: { attempts: 9, retryAt: NOW - 1, error: 'timeout', leader: 'c' } }));
    expect(seen.rewindRetry.at(-1)).toMatchObject({ attempts: 1, leader: 'a' });
  });

  it('an impossible rewind marks the node for a rebuild (and clears any retry)', async () => {
    const { ctx, seen } = context({ rewind: async (): Promise<RewindOutcome> => 'failed' });
    await run(seen, ctx, REWIND, cluster(), 1, formerPrimary());
    expect(seen.rewindFailed).toEqual([true]);
    expect(seen.rewindRetry).toEqual([null]);
    expect(seen.calls).not.toContain('setAsideDataDir');
  });

  it('a successful rewind configures a standby and starts it', async () => {
    const { ctx, seen } = context({ rewind: async (): Promise<RewindOutcome> => 'rewound' });
    await run(seen, ctx, REWIND, cluster(), 1, formerPrimary());
    expect(seen.rewindFailed).toEqual([false]);
    expect(seen.calls.filter((c) => c !== 'probe')).toEqual(['rewind', 'configureStandby', 'start', 'discardOldDataDir']);
  });

  it('backoff grows and is bounded', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(rewindRetryDelayMs)).toEqual([2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect([1, 2, 3, 4, 5, 6, 20].map(startRetryDelayMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });
});

describe('rebuild action', () => {
  it('sets the old data directory aside (never deletes first) and discards it only after the new copy started', async () => {
    const { ctx, seen } = context({ setAsideDataDir: async () => '/d.pgwarden-old-x' });
    await run(seen, ctx, REBUILD, cluster(), 1, formerPrimary({ rewindFailed: true }));
    expect(seen.calls).not.toContain('removeDataDir');
    expect(seen.calls).toEqual(['stop', 'setAsideDataDir', 'basebackup', 'configureStandby', 'start', 'discardOldDataDir']);
  });

  it('keeps the old copy when the base backup fails', async () => {
    const { ctx, seen } = context({ basebackup: async () => { throw new Error('basebackup: connection refused'); } });
    await expect(execute(ctx, REBUILD, cluster(), 1, formerPrimary({ rewindFailed: true }))).rejects.toThrow(/connection refused/);
    expect(seen.calls).not.toContain('discardOldDataDir');
  });

  it('keeps the old copy when the fresh copy cannot start (retried later)', async () => {
    const { ctx, seen } = context({ start: async () => { throw new Error('start: postgres could not start (exit 1): could not create any TCP/IP sockets'); } });
    await run(seen, ctx, REBUILD, cluster(), 1, formerPrimary({ rewindFailed: true }));
    expect(seen.calls).not.toContain('discardOldDataDir');
    expect(seen.startRetry).toEqual([{ attempts: 1, retryAt: NOW + 1000, error: 'postgres could not start (exit 1): could not create any TCP/IP sockets' }]);
  });
});

describe('start actions', () => {
  it('a failed start is recorded with PostgreSQL\'s message, logged once per message, and not rethrown', async () => {
    const msg = 'start: postgres could not start (exit 1): could not bind IPv4 address "127.0.0.1": Address already in use; could not create any TCP/IP sockets';
    const { ctx, seen } = context({ start: async () => { throw new Error(msg); } });
    await run(seen, ctx, START, cluster(), 1, local(pgStopped('shut down in recovery')));
    expect(seen.startRetry.at(-1)).toMatchObject({ attempts: 1, error: msg.replace(/^start: /, '') });
    expect(seen.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([expect.stringMatching(/Address already in use.*retrying with backoff/)]);
    await run(seen, ctx, START, cluster(), 1, local(pgStopped('shut down in recovery'), { startRetry: seen.startRetry.at(-1)! }));
    expect(seen.startRetry.at(-1)).toMatchObject({ attempts: 2, retryAt: NOW + 2000 });
    expect(seen.logs.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(seen.calls).not.toContain('rewind');
    expect(seen.calls).not.toContain('setAsideDataDir');
  });

  it('a start aborted by stop() is not a start failure', async () => {
    const { ctx, seen } = context({ start: async () => { throw new Error('start: start aborted: stop() was called'); } });
    await expect(execute(ctx, START, cluster(), 1, local(pgStopped('shut down in recovery')))).rejects.toThrow(/aborted/);
    expect(seen.startRetry).toEqual([]);
  });

  it('a successful start clears the retry and deletes a kept old data directory', async () => {
    const { ctx, seen } = context({});
    await run(seen, ctx, START, cluster(), 1, local(pgStopped('shut down in recovery'), { startRetry: { attempts: 2, retryAt: NOW, error: 'x' } }));
    expect(seen.startRetry).toEqual([null]);
    expect(seen.calls).toContain('discardOldDataDir');
  });
});
