// edit-config's pure parts: --set parsing, merge patches between configs, the diff people read,
// and the validation that runs before anything is written.
import { describe, expect, it } from 'vitest';
import { configYaml, lineDiff, mergePatchBetween, parseSets } from '../../../agent/ctl/config-edit.js';
import { planEdit } from '../../../agent/ctl/commands/edit-config.js';
import { CtlUsageError } from '../../../agent/ctl/io.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';

describe('parseSets', () => {
  it('turns dotted keys and YAML scalars into a merge patch', () => {
    expect(parseSets([
      'maximum_lag_on_failover=2097152', 'synchronous_mode=true', 'ttl=null', 'postgresql.parameters.work_mem=64MB',
      "postgresql.parameters.application_name='5'",
    ])).toEqual({
      maximum_lag_on_failover: 2097152,
      synchronous_mode: true,
      ttl: null,
      postgresql: { parameters: { work_mem: '64MB', application_name: '5' } },
    });
  });

  it('takes everything after postgresql.parameters. as one parameter name, and --pg for parameters', () => {
    expect(parseSets(['postgresql.parameters.pg_stat_statements.max=5000'], ['auto_explain.log_min_duration=250ms', 'max_connections=300'])).toEqual({
      postgresql: { parameters: { 'pg_stat_statements.max': 5000, 'auto_explain.log_min_duration': '250ms', max_connections: 300 } },
    });
  });

  it('an empty value resets the key (null)', () => {
    expect(parseSets(['loop_wait='])).toEqual({ loop_wait: null });
  });

  it('refuses what is not key=scalar', () => {
    for (const bad of ['ttl', '=5', 'a..b=1', 'ttl=[1, 2]', 'ttl={a: 1}']) {
      expect(() => parseSets([bad]), bad).toThrow(CtlUsageError);
    }
    expect(() => parseSets(['postgresql=1', 'postgresql.parameters.x=1'])).toThrow(/conflicts/);
  });
});

describe('mergePatchBetween', () => {
  it('gives the RFC 7396 patch from one config to another', () => {
    const from = { ttl: 3, pause: false, postgresql: { parameters: { a: 1, b: 2 } } };
    const to = { ttl: 5, pause: false, postgresql: { parameters: { a: 1, c: 3 } } };
    expect(mergePatchBetween(from, to)).toEqual({ ttl: 5, postgresql: { parameters: { b: null, c: 3 } } });
    expect(mergePatchBetween(from, from)).toEqual({});
    expect(mergePatchBetween(from, { ttl: 3, pause: false })).toEqual({ postgresql: null });
  });
});

describe('lineDiff', () => {
  it('marks removed and added lines, keeps the others', () => {
    expect(lineDiff('a: 1\nb: 2\nc: 3\n', 'a: 1\nb: 5\nc: 3\nd: 4\n', ['old', 'new'])).toBe([
      '--- old', '+++ new', ' a: 1', '-b: 2', '+b: 5', ' c: 3', '+d: 4', '',
    ].join('\n'));
  });

  it('is empty for equal texts', () => {
    expect(lineDiff('a\n', 'a\n')).toBe('');
  });
});

describe('planEdit', () => {
  it('validates with the agents\' own rules and shows the change as a YAML diff', () => {
    const plan = planEdit(DEFAULT_DYNAMIC_CONFIG, parseSets(['maximum_lag_on_failover=2097152']), 41);
    expect(plan.changed).toBe(true);
    expect(plan.next.maximum_lag_on_failover).toBe(2097152);
    expect(plan.diff).toContain('--- etcd config (revision 41)');
    expect(plan.diff).toContain('-maximum_lag_on_failover: 1048576\n+maximum_lag_on_failover: 2097152');
  });

  it('rejects invalid values and impossible combinations before anything is sent', () => {
    expect(() => planEdit(DEFAULT_DYNAMIC_CONFIG, parseSets(['ttl=abc']), 1)).toThrow(/ttl/);
    expect(() => planEdit(DEFAULT_DYNAMIC_CONFIG, parseSets(['loop_wait=10']), 1)).toThrow(/loop_wait \+ 2 × retry_timeout/);
    expect(() => planEdit(DEFAULT_DYNAMIC_CONFIG, parseSets(['no_such_key=1']), 1)).toThrow(/no_such_key/);
  });

  it('notices a no-op', () => {
    expect(planEdit(DEFAULT_DYNAMIC_CONFIG, parseSets(['ttl=3']), 1).changed).toBe(false);
  });

  it('never shows secret-named values in the diff', () => {
    const plan = planEdit(DEFAULT_DYNAMIC_CONFIG, parseSets(['postgresql.parameters.ssl_key_password=hunter2']), 1);
    expect(plan.changed).toBe(true);
    expect(plan.diff).not.toContain('hunter2');
    expect(configYaml({ b: 1, a: { d: 1, c: 2 } })).toBe('a:\n  c: 2\n  d: 1\nb: 1\n');
  });
});
