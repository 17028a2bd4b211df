// Where ctl finds etcd and credentials: the agent's pgwarden.yml (-c), the ctl config file,
// PGWARDEN_CTL_* variables and flags, later layers winning; problems are usage errors (exit 2).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { resolveCtlConfig, requireScope } from '../../../agent/ctl/config.js';
import { CtlUsageError } from '../../../agent/ctl/io.js';
import { ConfigError } from '../../../agent/config/errors.js';

let dir = '';
let home = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-ctl-config-'));
  home = join(dir, 'home');
  mkdirSync(join(home, '.config', 'pgwarden'), { recursive: true });
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function write(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
  return path;
}

const AGENT = {
  name: 'pg-1', scope: 'main', namespace: '/pgw',
  etcd: { hosts: ['10.0.1.11:2379', '10.0.1.12:2379'] },
  restapi: { listen: '10.0.2.21:8008', auth: { username: 'admin', password: 'from-agent-file' } },
  postgresql: { bin_dir: '/usr/lib/postgresql/15/bin', data_dir: '/var/lib/pg', listen: '10.0.2.21', connect_address: '10.0.2.21:5432', superuser: { password: 'x' }, replication: { password: 'y' } },
};

describe('resolveCtlConfig', () => {
  it('reads etcd, namespace, scope and credentials from the agent\'s pgwarden.yml (-c)', () => {
    const file = write('agent.yml', AGENT);
    const cfg = resolveCtlConfig({ config: file }, { PGWARDEN_CTL_TOKEN: 'ignored-by-agent-loader' }, home);
    expect(cfg).toMatchObject({
      etcd: { hosts: ['10.0.1.11:2379', '10.0.1.12:2379'] },
      namespace: '/pgw',
      scope: 'main',
      auth: { username: 'admin', password: 'from-agent-file', token: 'ignored-by-agent-loader' },
      sources: [file, 'PGWARDEN_CTL_* environment'],
    });
  });

  it('reads a ctl config file with secrets from files; env and flags override it', () => {
    writeFileSync(join(dir, 'api-secret'), 's3cret\n');
    const file = write('ctl.yml', {
      namespace: '/pgwarden', scope: 'main',
      etcd: { hosts: ['10.0.1.11:2379'] },
      restapi: { auth: { username: 'ops', password_file: 'api-secret' }, tls: { ca: '/etc/pgwarden/ca.crt' } },
    });
    const cfg = resolveCtlConfig({ ctlConfig: file, scope: 'other' }, { PGWARDEN_CTL_ETCD_HOSTS: 'a:1, b:2' }, home);
    expect(cfg).toMatchObject({
      etcd: { hosts: ['a:1', 'b:2'] }, scope: 'other', auth: { username: 'ops', password: 's3cret' }, tls: { ca: '/etc/pgwarden/ca.crt' },
    });
  });

  it('finds ~/.config/pgwarden/ctl.yml by itself', () => {
    writeFileSync(join(home, '.config', 'pgwarden', 'ctl.yml'), stringify({ scope: 'homed', etcd: { hosts: ['h:2379'] } }));
    try {
      expect(resolveCtlConfig({}, {}, home)).toMatchObject({ scope: 'homed', etcd: { hosts: ['h:2379'] }, auth: null });
    } finally {
      rmSync(join(home, '.config', 'pgwarden', 'ctl.yml'));
    }
  });

  it('builds everything from PGWARDEN_CTL_* alone', () => {
    const cfg = resolveCtlConfig({}, {
      PGWARDEN_CTL_ETCD_HOSTS: 'e1:2379', PGWARDEN_CTL_SCOPE: 's', PGWARDEN_CTL_NAMESPACE: '/n', PGWARDEN_CTL_TOKEN: 't', PGWARDEN_CTL_CACERT: '/ca.pem',
    }, home);
    expect(cfg).toMatchObject({ etcd: { hosts: ['e1:2379'] }, scope: 's', namespace: '/n', auth: { token: 't' }, tls: { ca: '/ca.pem' } });
  });

  it('says what is missing or wrong (usage errors)', () => {
    expect(() => resolveCtlConfig({}, {}, home)).toThrow(/no etcd hosts/);
    expect(() => resolveCtlConfig({ etcd: ['not a host'] }, {}, home)).toThrow(/host:port/);
    expect(() => resolveCtlConfig({ etcd: ['h:1'] }, { PGWARDEN_CTL_PASWORD: 'x' }, home)).toThrow(/unknown environment variable PGWARDEN_CTL_PASWORD/);
    expect(() => resolveCtlConfig({ etcd: ['h:1'] }, { PGWARDEN_CTL_USERNAME: 'u' }, home)).toThrow(/no password/);
    expect(() => resolveCtlConfig({ ctlConfig: join(dir, 'missing.yml') }, {}, home)).toThrow(CtlUsageError);
    expect(() => requireScope(resolveCtlConfig({ etcd: ['h:1'] }, {}, home))).toThrow(/which cluster/);
  });

  it('rejects unknown keys in the ctl config file with the key path', () => {
    const file = write('bad.yml', { etcd: { hosts: ['h:1'], host: 'typo' }, restapi: { auth: { user: 'x' } } });
    const err = (() => { try { resolveCtlConfig({ ctlConfig: file }, {}, home); } catch (e) { return e; } return null; })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).format()).toMatch(/etcd\.host: unknown key/);
    expect((err as ConfigError).format()).toMatch(/restapi\.auth\.user: unknown key/);
  });
});
