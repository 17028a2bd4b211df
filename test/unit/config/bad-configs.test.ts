// Every bad config is rejected with the file (or env var), the exact key path, and what is allowed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, formatProblem, loadAgentConfig } from '../../../agent/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-bad-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A valid config; every row below breaks exactly one thing in (a copy of) it.
const HEAD = `name: pg-1
scope: demo
etcd:
  hosts: ["127.0.0.1:2379"]
`;
const PG = `postgresql:
  data_dir: /var/lib/pgwarden/data
`;
const BASE = HEAD + PG;

interface Row {
  title: string;
  yaml: string;
  env?: Record<string, string>;
  keyPath: string;
  /** Substrings the problem's formatted line must contain (allowed values, the rule, the env var). */
  mentions: string[];
  /** The line must start with this env var's origin instead of the file. */
  envVar?: string;
}

const rows: Row[] = [
  {
    title: 'missing name',
    yaml: BASE.replace('name: pg-1\n', ''),
    keyPath: 'name',
    mentions: ['is required', 'letters, digits'],
  },
  {
    title: 'unknown top-level key',
    yaml: BASE + 'colour: blue\n',
    keyPath: 'colour',
    mentions: ['unknown key', 'allowed: name, scope, namespace'],
  },
  {
    title: 'unknown nested key (typo)',
    yaml: HEAD + 'postgresql:\n  data_dri: /var/lib/pgwarden/data\n',
    keyPath: 'postgresql.data_dri',
    mentions: ['unknown key', 'did you mean "data_dir"?', 'bin_dir, data_dir'],
  },
  {
    title: 'wrong type (string for a number)',
    yaml: BASE + 'bootstrap:\n  dcs:\n    loop_wait: fast\n',
    keyPath: 'bootstrap.dcs.loop_wait',
    mentions: ['must be a number of seconds ≥ 0.1', '(got "fast")'],
  },
  {
    title: 'ttl below etcd minimum',
    yaml: BASE + 'bootstrap:\n  dcs:\n    ttl: 1\n    loop_wait: 0.2\n    retry_timeout: 0.2\n',
    keyPath: 'bootstrap.dcs.ttl',
    mentions: ['≥ 2', '(got 1)'],
  },
  {
    title: 'loop_wait + 2 × retry_timeout > ttl',
    yaml: BASE + 'bootstrap:\n  dcs:\n    ttl: 5\n    loop_wait: 2\n    retry_timeout: 2\n',
    keyPath: 'bootstrap.dcs.ttl',
    mentions: ['loop_wait', 'retry_timeout', 'ttl', '2 + 2 × 2 = 6 > 5', 'raise ttl to 6'],
  },
  {
    title: 'bad enum (log.level)',
    yaml: BASE + 'log:\n  level: verbose\n',
    keyPath: 'log.level',
    mentions: ['(got "verbose")', 'allowed: trace, debug, info, warn, error'],
  },
  {
    title: 'bad enum (watchdog.mode)',
    yaml: BASE + 'watchdog:\n  mode: on\n',
    keyPath: 'watchdog.mode',
    mentions: ['allowed: off, automatic, required'],
  },
  {
    title: 'relative watchdog.device',
    yaml: BASE + 'watchdog:\n  device: watchdog0\n',
    keyPath: 'watchdog.device',
    mentions: ['an absolute path'],
  },
  {
    title: 'negative watchdog.safety_margin other than -1',
    yaml: BASE + 'watchdog:\n  safety_margin: -2\n',
    keyPath: 'watchdog.safety_margin',
    mentions: ['seconds ≥ 0, or -1'],
  },
  {
    title: 'negative failover_priority',
    yaml: BASE + 'tags:\n  failover_priority: -1\n',
    keyPath: 'tags.failover_priority',
    mentions: ['integer ≥ 0', '(got -1)'],
  },
  {
    title: 'nofailover with an explicit failover_priority',
    yaml: BASE + 'tags:\n  nofailover: true\n  failover_priority: 5\n',
    keyPath: 'tags.failover_priority',
    mentions: ['conflicts with tags.nofailover', 'set it to 0'],
  },
  {
    title: 'relative data_dir',
    yaml: HEAD + 'postgresql:\n  data_dir: data\n',
    keyPath: 'postgresql.data_dir',
    mentions: ['absolute path', '(got "data")'],
  },
  {
    title: 'port out of range',
    yaml: PG.replace('postgresql:\n', 'postgresql:\n  port: 70000\n') + HEAD,
    keyPath: 'postgresql.port',
    mentions: ['1..65535', '(got 70000)'],
  },
  {
    title: 'etcd host without a port',
    yaml: BASE.replace('"127.0.0.1:2379"', '"127.0.0.1:2379", "etcd2.example.com"'),
    keyPath: 'etcd.hosts[1]',
    mentions: ['host:port', '(got "etcd2.example.com")'],
  },
  {
    title: 'empty etcd host list',
    yaml: BASE.replace('["127.0.0.1:2379"]', '[]'),
    keyPath: 'etcd.hosts',
    mentions: ['non-empty list of host:port'],
  },
  {
    title: 'password_file that does not exist',
    yaml: BASE + '  superuser:\n    password_file: /nonexistent/pgwarden/su.pass\n',
    keyPath: 'postgresql.superuser.password_file',
    mentions: ['cannot read', '/nonexistent/pgwarden/su.pass', 'no such file'],
  },
  {
    title: 'password and password_file both given',
    yaml: BASE + '  replication:\n    password: s3cret\n    password_file: /etc/pgwarden/repl.pass\n',
    keyPath: 'postgresql.replication.password',
    mentions: ['only one of password, password_file, password_env'],
  },
  {
    title: 'password_env naming an unset variable',
    yaml: BASE.replace('etcd:\n', 'etcd:\n  username: root\n  password_env: ETCD_PW_NOT_SET\n'),
    keyPath: 'etcd.password_env',
    mentions: ['ETCD_PW_NOT_SET is not set'],
  },
  {
    title: 'synchronous_mode_strict without synchronous_mode',
    yaml: BASE + 'bootstrap:\n  dcs:\n    synchronous_mode_strict: true\n',
    keyPath: 'bootstrap.dcs.synchronous_mode_strict',
    mentions: ['requires synchronous_mode: true'],
  },
  {
    title: 'synchronous_node_count of zero',
    yaml: BASE + 'bootstrap:\n  dcs:\n    synchronous_mode: true\n    synchronous_node_count: 0\n',
    keyPath: 'bootstrap.dcs.synchronous_node_count',
    mentions: ['integer ≥ 1', '(got 0)'],
  },
  {
    title: 'invalid member name',
    yaml: BASE.replace('name: pg-1', 'name: "-pg 1"'),
    keyPath: 'name',
    mentions: ['starting with a letter or digit', '(got "-pg 1")'],
  },
  {
    title: 'parameter pgwarden manages itself',
    yaml: BASE + '  parameters:\n    port: 5433\n',
    keyPath: 'postgresql.parameters.port',
    mentions: ['managed by pgwarden', 'postgresql.port'],
  },
  {
    title: 'wildcard REST listen without connect_address',
    yaml: BASE + 'restapi:\n  listen: "0.0.0.0:8008"\n',
    keyPath: 'restapi.connect_address',
    mentions: ['is required when listen is a wildcard'],
  },
  {
    title: 'boolean tag given as a string',
    yaml: BASE + 'tags:\n  noloadbalance: "yes"\n',
    keyPath: 'tags.noloadbalance',
    mentions: ['true or false', '(got "yes")'],
  },
  {
    title: 'bad PGWARDEN_POSTGRESQL_PORT',
    yaml: BASE,
    env: { PGWARDEN_POSTGRESQL_PORT: 'fivefour' },
    keyPath: 'postgresql.port',
    envVar: 'PGWARDEN_POSTGRESQL_PORT',
    mentions: ['1..65535', '(got "fivefour")'],
  },
  {
    title: 'bad PGWARDEN_TAGS_NOFAILOVER',
    yaml: BASE,
    env: { PGWARDEN_TAGS_NOFAILOVER: 'maybe' },
    keyPath: 'tags.nofailover',
    envVar: 'PGWARDEN_TAGS_NOFAILOVER',
    mentions: ['true or false', '(got "maybe")'],
  },
  {
    title: 'unknown PGWARDEN_* variable',
    yaml: BASE,
    env: { PGWARDEN_POSTGRES_PORT: '5433' },
    keyPath: '',
    envVar: 'PGWARDEN_POSTGRES_PORT',
    mentions: ['unknown PGWARDEN_* variable (did you mean PGWARDEN_POSTGRESQL_PORT?)'],
  },
];

let n = 0;
function writeConfig(yaml: string): string {
  const file = join(dir, `case-${++n}.yml`);
  writeFileSync(file, yaml);
  return file;
}

function loadError(file: string, env: Record<string, string> = {}): ConfigError {
  try {
    loadAgentConfig({ file, env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

describe('bad configs', () => {
  it('the base config of the table is valid (so each row fails for its own reason)', () => {
    expect(loadAgentConfig({ file: writeConfig(BASE), env: {} }).name).toBe('pg-1');
  });

  it.each(rows)('$title → $keyPath', (row) => {
    const file = writeConfig(row.yaml);
    const err = loadError(file, row.env);
    const problem = err.problems.find((p) => p.keyPath === row.keyPath);
    expect(problem, `no problem at ${row.keyPath}; got:\n${err.format()}`).toBeDefined();
    const line = formatProblem(problem!);
    if (row.envVar) {
      expect(problem!.file).toBeNull();
      expect(line.startsWith(`env ${row.envVar}: `)).toBe(true);
    } else {
      expect(problem!.file).toBe(file);
      expect(line.startsWith(`${file}: ${row.keyPath}: `)).toBe(true);
    }
    for (const m of row.mentions) expect(line).toContain(m);
    expect(err.format()).toContain(line);
  });

  it('YAML syntax errors name the file and the line', () => {
    const file = writeConfig('name: pg-1\nscope: demo\netcd:\n  hosts: [127.0.0.1:2379\npostgresql: {}\n');
    const err = loadError(file);
    expect(err.file).toBe(file);
    expect(err.problems[0]!.line).toBe(5);
    expect(err.format()).toMatch(new RegExp(`^${escape(file)}: YAML syntax error: .*at line 5`));
  });

  it('duplicate keys are a syntax error', () => {
    const err = loadError(writeConfig(BASE + 'name: pg-2\n'));
    expect(err.format()).toContain('Map keys must be unique');
  });

  it('a missing file is named', () => {
    const err = loadError(join(dir, 'absent.yml'));
    expect(err.format()).toContain(`${join(dir, 'absent.yml')}: cannot read the config file (ENOENT)`);
  });

  it('reports every problem, not just the first, one line each', () => {
    const file = writeConfig(
      'scope: demo\netcd:\n  hosts: [nope]\npostgresql:\n  data_dir: rel\n  port: 0\nlog:\n  level: loud\n',
    );
    const err = loadError(file);
    expect(err.problems.map((p) => p.keyPath).sort()).toEqual(
      ['etcd.hosts[0]', 'log.level', 'name', 'postgresql.data_dir', 'postgresql.port'].sort(),
    );
    expect(err.format().split('\n')).toHaveLength(5);
  });

  it('points at the line of the offending key', () => {
    const file = writeConfig(BASE + 'bootstrap:\n  dcs:\n    loop_wait: fast\n');
    const problem = loadError(file).problems.find((p) => p.keyPath === 'bootstrap.dcs.loop_wait');
    expect(problem?.line).toBe(9); // 6 lines of BASE, then bootstrap, dcs, loop_wait
  });

  it('never echoes a secret in an error', () => {
    const file = writeConfig(BASE + '  superuser:\n    password: 12345678\n');
    const err = loadError(file);
    expect(err.keyPath).toBe('postgresql.superuser.password');
    expect(err.format()).not.toContain('12345678');
  });

  it('a bad override names itself as the origin', () => {
    const file = writeConfig(BASE);
    let caught: unknown;
    try {
      loadAgentConfig({ file, env: {}, overrides: { 'bootstrap.dcs.ttl': 'soon' } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).format()).toBe(
      'override: bootstrap.dcs.ttl: must be an integer number of seconds ≥ 2 (etcd lease TTL) (got "soon")',
    );
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
