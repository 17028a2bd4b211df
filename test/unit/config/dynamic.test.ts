// Dynamic config from etcd: never throws on garbage, merges over defaults, merge-patches, converts units.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DYNAMIC_CONFIG,
  mergeDynamicPatch,
  parseDynamicConfig,
  toHaSettings,
  type DynamicConfig,
} from '../../../agent/config/index.js';

const SRC = 'etcd /pgwarden/demo/config';

const cyclic: Record<string, unknown> = { ttl: 5 };
cyclic.self = cyclic;
const throwing = Object.defineProperty({}, 'ttl', { enumerable: true, get: () => { throw new Error('boom'); } });

describe('parseDynamicConfig on malformed values', () => {
  const rows: Array<[string, unknown, string]> = [
    ['invalid JSON text', '{"ttl": 3,', 'not valid JSON'],
    ['JSON text of an array', '[1, 2]', 'must be a JSON object (got an array)'],
    ['a number', 42, 'must be a JSON object (got number)'],
    ['null', null, 'must be a JSON object (got null)'],
    ['undefined', undefined, 'must be a JSON object (got undefined)'],
    ['wrong type', { ttl: 'ten' }, 'ttl: must be an integer number of seconds ≥ 2'],
    ['unknown key', { ttl: 30, tll: 3 }, 'tll: unknown key (did you mean "ttl"?)'],
    ['timing rule broken', { ttl: 3, loop_wait: 2 }, 'ttl: loop_wait + 2 × retry_timeout must be ≤ ttl'],
    ['nested wrong type', { postgresql: { parameters: { work_mem: ['64MB'] } } }, 'postgresql.parameters.work_mem: must be a string, number or boolean'],
    ['postgresql not a mapping', { postgresql: 'x' }, 'postgresql: must be a mapping'],
    ['strict without sync', { synchronous_mode_strict: true }, 'synchronous_mode_strict: requires synchronous_mode: true'],
    ['cyclic object', cyclic, 'not representable as JSON (Converting circular structure'],
    ['throwing getter', throwing, 'not representable as JSON (boom)'],
  ];

  it.each(rows)('%s → error, no throw', (_title, value, expected) => {
    const result = parseDynamicConfig(value, SRC);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.length).toBeGreaterThan(0);
    for (const e of result.errors) expect(e.startsWith(`${SRC}: `)).toBe(true);
    expect(result.errors.join('\n')).toContain(expected);
  });
});

describe('parseDynamicConfig on valid values', () => {
  it('merges a partial object over the defaults', () => {
    const result = parseDynamicConfig({ ttl: 10, loop_wait: 2 }, SRC);
    expect(result).toEqual({ ok: true, config: { ...DEFAULT_DYNAMIC_CONFIG, ttl: 10, loop_wait: 2 } });
  });

  it('accepts JSON text and bytes, and treats null values as absent', () => {
    const text = '{"maximum_lag_on_failover": 0, "pause": true, "ttl": null}';
    for (const value of [text, new TextEncoder().encode(text)]) {
      const result = parseDynamicConfig(value, SRC);
      expect(result).toEqual({ ok: true, config: { ...DEFAULT_DYNAMIC_CONFIG, maximum_lag_on_failover: 0, pause: true } });
    }
  });

  it('an empty object is exactly the defaults', () => {
    expect(parseDynamicConfig({}, SRC)).toEqual({ ok: true, config: DEFAULT_DYNAMIC_CONFIG });
  });
});

describe('mergeDynamicPatch', () => {
  const current: DynamicConfig = {
    ...DEFAULT_DYNAMIC_CONFIG,
    ttl: 30,
    loop_wait: 10,
    synchronous_mode: true,
    postgresql: { parameters: { work_mem: '64MB', max_connections: 200 } },
  };

  it('sets, keeps and null-deletes keys (deleted keys return to their default)', () => {
    const result = mergeDynamicPatch(current, {
      loop_wait: null,
      retry_timeout: 5,
      postgresql: { parameters: { work_mem: null, shared_buffers: '1GB' } },
    });
    expect(result).toEqual({
      ok: true,
      config: {
        ...current,
        loop_wait: DEFAULT_DYNAMIC_CONFIG.loop_wait,
        retry_timeout: 5,
        postgresql: { parameters: { max_connections: 200, shared_buffers: '1GB' } },
      },
    });
  });

  it('does not modify the current config', () => {
    const before = structuredClone(current);
    mergeDynamicPatch(current, { ttl: 60, postgresql: { parameters: { max_connections: null } } });
    expect(current).toEqual(before);
  });

  it('rejects a patch that breaks a rule, naming the keys', () => {
    const result = mergeDynamicPatch(current, { retry_timeout: 15 }, 'PATCH /config');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      'PATCH /config: ttl: loop_wait + 2 × retry_timeout must be ≤ ttl, but 10 + 2 × 15 = 40 > 30; raise ttl to 40 or more, or lower loop_wait or retry_timeout (allowed: loop_wait + 2 × retry_timeout ≤ ttl)',
    ]);
  });

  it('rejects unknown keys and non-object patches', () => {
    const unknown = mergeDynamicPatch(current, { paused: true });
    expect(unknown.ok === false && unknown.errors[0]).toContain('paused: unknown key (did you mean "pause"?)');
    const notObject = mergeDynamicPatch(current, [1]);
    expect(notObject.ok === false && notObject.errors[0]).toBe('patch: must be a JSON object (got an array)');
  });

  it('null on synchronous_mode with strict still set is rejected', () => {
    const strict = { ...current, synchronous_mode_strict: true };
    const result = mergeDynamicPatch(strict, { synchronous_mode: null });
    expect(result.ok).toBe(false);
  });
});

describe('toHaSettings', () => {
  it('converts seconds to milliseconds and copies the rest', () => {
    const s = toHaSettings({
      ...DEFAULT_DYNAMIC_CONFIG,
      ttl: 3,
      loop_wait: 0.5,
      retry_timeout: 1.25,
      primary_start_timeout: 10,
      maximum_lag_on_failover: 4096,
      min_failover_interval: 300,
      check_timeline: false,
      use_pg_rewind: false,
      rebuild_on_rewind_failure: false,
      synchronous_mode: true,
      synchronous_mode_strict: true,
    });
    expect(s).toEqual({
      ttlMs: 3000,
      loopWaitMs: 500,
      retryTimeoutMs: 1250,
      primaryStartTimeoutMs: 10000,
      maximumLagOnFailover: 4096,
      minFailoverIntervalMs: 300_000,
      checkTimeline: false,
      usePgRewind: false,
      rebuildOnRewindFailure: false,
      synchronousMode: true,
      synchronousModeStrict: true,
    });
  });

  it('rounds float artefacts to whole milliseconds', () => {
    expect(toHaSettings({ ...DEFAULT_DYNAMIC_CONFIG, loop_wait: 0.1 + 0.2 }).loopWaitMs).toBe(300);
  });
});
