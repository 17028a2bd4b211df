// Valid configs: defaults, precedence (file < env < overrides), secrets, redaction.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_DYNAMIC_CONFIG, loadAgentConfig, redactConfig, REDACTED } from '../../../agent/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-good-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MINIMAL = `name: pg-1
scope: demo
etcd:
  hosts: ["10.0.0.1:2379", "10.0.0.2:2379"]
postgresql:
  data_dir: /var/lib/pgwarden/data
`;

let n = 0;
function write(text: string, name = `good-${++n}.yml`): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('minimal config', () => {
  it('fills every default', () => {
    const file = write(MINIMAL);
    const cfg = loadAgentConfig({ file, env: {} });
    expect(cfg).toEqual({
      config_file: file,
      name: 'pg-1',
      scope: 'demo',
      namespace: '/pgwarden',
      log: { level: 'info', format: 'auto' },
      etcd: { hosts: ['10.0.0.1:2379', '10.0.0.2:2379'] },
      restapi: { listen: '127.0.0.1:8008', connect_address: '127.0.0.1:8008' },
      postgresql: {
        bin_dir: '/usr/lib/postgresql/15/bin',
        data_dir: '/var/lib/pgwarden/data',
        listen: '127.0.0.1',
        connect_address: '127.0.0.1:5432',
        port: 5432,
        superuser: { username: 'postgres' },
        replication: { username: 'replicator' },
        parameters: {},
        pg_hba: [],
        keep_old_data_dir: true,
      },
      tags: { nofailover: false, failover_priority: 1, noloadbalance: false, nosync: false },
      watchdog: { mode: 'automatic', device: '/dev/watchdog', safety_margin: 1 },
      bootstrap: { dcs: DEFAULT_DYNAMIC_CONFIG },
    });
  });

  it('merges a partial bootstrap.dcs over the dynamic defaults', () => {
    const cfg = loadAgentConfig({ file: write(MINIMAL + 'bootstrap:\n  dcs:\n    ttl: 10\n    synchronous_mode: true\n'), env: {} });
    expect(cfg.bootstrap.dcs).toEqual({ ...DEFAULT_DYNAMIC_CONFIG, ttl: 10, synchronous_mode: true });
  });

  it('does not share the defaults object (mutating one config cannot change another)', () => {
    const a = loadAgentConfig({ file: write(MINIMAL), env: {} });
    a.bootstrap.dcs.postgresql.parameters.work_mem = '64MB';
    const b = loadAgentConfig({ file: write(MINIMAL), env: {} });
    expect(b.bootstrap.dcs.postgresql.parameters).toEqual({});
    expect(DEFAULT_DYNAMIC_CONFIG.postgresql.parameters).toEqual({});
  });

  it('derives connect addresses from a concrete listen address and port', () => {
    const cfg = loadAgentConfig({
      file: write(MINIMAL + '  listen: 10.0.0.5\n  port: 5433\nrestapi:\n  listen: "10.0.0.5:8009"\n'),
      env: {},
    });
    expect(cfg.postgresql.connect_address).toBe('10.0.0.5:5433');
    expect(cfg.restapi.connect_address).toBe('10.0.0.5:8009');
  });

  it('nofailover without a priority gets priority 0', () => {
    const cfg = loadAgentConfig({ file: write(MINIMAL + 'tags:\n  nofailover: true\n'), env: {} });
    expect(cfg.tags).toEqual({ nofailover: true, failover_priority: 0, noloadbalance: false, nosync: false });
  });

  it('can be built from env alone, with no file', () => {
    const cfg = loadAgentConfig({
      env: {
        PGWARDEN_NAME: 'pg-9',
        PGWARDEN_SCOPE: 'envonly',
        PGWARDEN_ETCD_HOSTS: '10.0.0.1:2379',
        PGWARDEN_POSTGRESQL_DATA_DIR: '/data',
        HOME: '/root', // unrelated variables are ignored
      },
    });
    expect(cfg.config_file).toBeNull();
    expect(cfg.name).toBe('pg-9');
  });
});

describe('precedence: file < env < overrides', () => {
  const file = write(MINIMAL + '  port: 5432\nlog:\n  level: warn\n');

  it('env overrides the file, with strings coerced to the schema type', () => {
    const cfg = loadAgentConfig({
      file,
      env: {
        PGWARDEN_NAME: 'pg-2',
        PGWARDEN_POSTGRESQL_PORT: '6543',
        PGWARDEN_ETCD_HOSTS: 'e1:2379, e2:2379,e3:2379',
        PGWARDEN_LOG_LEVEL: 'debug',
        PGWARDEN_TAGS_NOLOADBALANCE: 'true',
        PGWARDEN_TAGS_FAILOVER_PRIORITY: '7',
        PGWARDEN_CONFIG: '/ignored/by/the/loader.yml',
      },
    });
    expect(cfg.name).toBe('pg-2');
    expect(cfg.postgresql.port).toBe(6543);
    expect(cfg.postgresql.connect_address).toBe('127.0.0.1:6543');
    expect(cfg.etcd.hosts).toEqual(['e1:2379', 'e2:2379', 'e3:2379']);
    expect(cfg.log.level).toBe('debug');
    expect(cfg.tags.noloadbalance).toBe(true);
    expect(cfg.tags.failover_priority).toBe(7);
  });

  it('overrides beat env, and accept strings or typed values', () => {
    const cfg = loadAgentConfig({
      file,
      env: { PGWARDEN_POSTGRESQL_PORT: '6543', PGWARDEN_LOG_LEVEL: 'debug' },
      overrides: { 'postgresql.port': '7654', 'log.level': 'error', 'bootstrap.dcs.ttl': 20, 'tags.nosync': 'yes' },
    });
    expect(cfg.postgresql.port).toBe(7654);
    expect(cfg.log.level).toBe('error');
    expect(cfg.bootstrap.dcs.ttl).toBe(20);
    expect(cfg.tags.nosync).toBe(true);
  });
});

describe('secrets', () => {
  it('reads password_file (relative to the config file, trailing newline trimmed) and password_env', () => {
    write('file-secret\n', 'su.pass');
    const file = write(
      MINIMAL +
        '  superuser:\n    password_file: su.pass\n' +
        '  replication:\n    username: repl\n    password_env: REPL_PW\n' +
        'restapi:\n  auth:\n    token_file: ' + join(dir, 'su.pass') + '\n',
    );
    const cfg = loadAgentConfig({ file, env: { REPL_PW: 'env-secret' } });
    expect(cfg.postgresql.superuser).toEqual({ username: 'postgres', password: 'file-secret' });
    expect(cfg.postgresql.replication).toEqual({ username: 'repl', password: 'env-secret' });
    expect(cfg.restapi.auth).toEqual({ token: 'file-secret' });
  });

  it('an env password replaces the file password_file (no "both given" conflict across layers)', () => {
    const file = write(MINIMAL + '  superuser:\n    password_file: /nonexistent/su.pass\n');
    const cfg = loadAgentConfig({ file, env: { PGWARDEN_SUPERUSER_PASSWORD: 'from-env' } });
    expect(cfg.postgresql.superuser.password).toBe('from-env');
  });

  it('redactConfig hides every password and token and leaves the original intact', () => {
    const file = write(
      MINIMAL.replace('etcd:\n', 'etcd:\n  username: root\n  password: etcd-pw\n') +
        '  superuser:\n    password: su-pw\n  replication:\n    password: repl-pw\n' +
        'restapi:\n  auth:\n    username: admin\n    password: api-pw\n    token: api-token\n',
    );
    const cfg = loadAgentConfig({ file, env: {} });
    const shown = redactConfig(cfg);
    const text = JSON.stringify(shown);
    for (const secret of ['etcd-pw', 'su-pw', 'repl-pw', 'api-pw', 'api-token']) expect(text).not.toContain(secret);
    expect(shown.etcd.password).toBe(REDACTED);
    expect(shown.restapi.auth).toEqual({ username: 'admin', password: REDACTED, token: REDACTED });
    expect(shown.postgresql.superuser).toEqual({ username: 'postgres', password: REDACTED });
    expect(shown.postgresql.data_dir).toBe('/var/lib/pgwarden/data');
    expect(cfg.postgresql.superuser.password).toBe('su-pw');
  });
});

describe('deploy/pgwarden.yml', () => {
  it('is valid apart from its secret files, which do not exist on a test machine', () => {
    const example = join(import.meta.dirname, '../../../deploy/pgwarden.yml');
    let problems: string[] = [];
    try {
      loadAgentConfig({ file: example, env: {} });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems.map((p) => p.keyPath);
    }
    expect(problems.sort()).toEqual([
      'etcd.password_file',
      'postgresql.replication.password_file',
      'postgresql.superuser.password_file',
      'restapi.auth.password_file',
      'restapi.auth.token_file',
    ]);
  });
});
