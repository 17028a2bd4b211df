// `pgwarden proxy-config haproxy` without etcd: a fake member source stands in for it. Usage
// errors exit 2 before anything is read; failures to read, render or validate exit 1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MemberRecord } from '../../../agent/core/types.js';
import { createLogger } from '../../../agent/log.js';
import { runProxyConfig, type ProxyConfigIo } from '../../../proxy-config/command.js';
import type { ProxyConfigArgs } from '../../../proxy-config/options.js';
import { clusterView, member } from '../api/builders.js';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-proxy-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SYSTEM_CA = '/etc/ssl/certs/ca-certificates.crt';
/** These tests run `haproxy -c`: without it (or the CA bundle) they fail, they never skip. */
function requireHaproxy(): void {
  const missing = ['/usr/sbin/haproxy', SYSTEM_CA].filter((f) => !existsSync(f));
  if (missing.length > 0) throw new Error(`this test needs ${missing.join(' and ')} (apt-get install haproxy ca-certificates; npm run deps does)`);
}

/** A cluster view as etcd would give it: three members on 10.0.0.x. */
const VIEW = clusterView({
  members: ['node1', 'node2', 'node3'].map((n, i) =>
    member(n, { host: `10.0.0.${i + 1}`, port: 5432, apiUrl: `http://10.0.0.${i + 1}:8008/` })),
});

function run(args: ProxyConfigArgs, members: readonly MemberRecord[] | Error = VIEW.members) {
  const out = { stdout: '', stderr: '', reads: 0 };
  const io: ProxyConfigIo = {
    stdout: (t) => { out.stdout += t; },
    stderr: (t) => { out.stderr += t; },
    logger: createLogger({ level: 'silent', format: 'json' }),
    source: () => ({
      where: '/pgwarden/demo/members/ on etcd (fake)',
      read: async () => {
        out.reads++;
        if (members instanceof Error) throw members;
        return members;
      },
      watch: async () => async () => undefined,
      close: async () => undefined,
    }),
  };
  return runProxyConfig({ kind: 'haproxy', etcd: ['127.0.0.1:1'], scope: 'demo', ...args }, io).then((code) => ({ code, ...out }));
}

describe('proxy-config haproxy', () => {
  it('renders the members of the cluster view to stdout', async () => {
    const r = await run({ 'replica-lag': '1MB' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('listen demo_rw\n    bind *:5000');
    expect(r.stdout).toContain('option httpchk OPTIONS /replica?lag=1MB');
    for (const i of [1, 2, 3]) expect(r.stdout).toContain(`server node${i} 10.0.0.${i}:5432 maxconn 100 check port 8008`);
    expect(r.stderr).toBe('');
  });

  it('fails with exit 2 on an unknown template placeholder, before asking etcd', async () => {
    const file = join(dir, 'bad.tmpl');
    writeFileSync(file, 'listen {{scope}}\n    bind {{rw_port}}\n');
    const r = await run({ template: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^pgwarden proxy-config: --template: .*bad\.tmpl line 2: unknown placeholder \{\{rw_port\}\}; known placeholders: /);
    expect(r.reads).toBe(0);
  });

  it('renders a template', async () => {
    const file = join(dir, 'good.tmpl');
    writeFileSync(file, 'listen {{scope}}\n    bind {{rw_bind}}\n    {{servers}}\n');
    const r = await run({ template: file, 'rw-port': '127.0.0.1:6432' });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['listen demo', '    bind 127.0.0.1:6432', '    server node1 10.0.0.1:5432 maxconn 100 check port 8008']);
  });

  it.each([
    ['no scope', { scope: undefined }, /--scope NAME/],
    ['no etcd', { etcd: undefined }, /--etcd host:port/],
    ['a bad listener', { 'rw-port': 'localhost' }, /--rw-port: "localhost" is not host:port/],
    ['a bad lag', { 'replica-lag': 'lots' }, /--replica-lag: "lots" is not a size/],
    ['both reload methods', { out: join(dir, 'x.cfg'), 'reload-cmd': 'true', 'haproxy-pid-file': '/run/haproxy.pid' }, /not both/],
    ['--watch without --out', { watch: true }, /--watch needs --out/],
    ['a missing template', { template: join(dir, 'nope.tmpl') }, /cannot read .*nope\.tmpl \(ENOENT\)/],
    ['an unreadable config file', { config: join(dir, 'nope.yml') }, /invalid configuration/],
  ] as const)('exits 2 on %s', async (_what, args, message) => {
    const r = await run(args as ProxyConfigArgs);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.reads).toBe(0);
  });

  it('exits 1 when etcd cannot be read, or holds no member', async () => {
    const down = await run({}, new Error('no answer from etcd within 3000 ms'));
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot read members from \/pgwarden\/demo\/members\/ .*no answer from etcd/);
    const empty = await run({}, []);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/no member registered/);
    expect((await run({ 'allow-empty': true }, [])).code).toBe(0);
  });

  it('checks agents served over https with TLS, and HAProxy accepts it', async () => {
    requireHaproxy();
    const tlsView = [...VIEW.members.slice(0, 2), member('node3', { host: '10.0.0.3', apiUrl: 'https://10.0.0.3:8443/' })];
    const out = join(dir, 'tls.cfg');
    const ca = SYSTEM_CA; // any CA file: haproxy -c loads it
    const r = await run({ out, check: true, 'check-ca': ca }, tlsView);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain(`server node3 10.0.0.3:5432 maxconn 100 check port 8443 check-ssl verify required ca-file ${ca}\n`);
    expect(text).toContain('server node1 10.0.0.1:5432 maxconn 100 check port 8008\n');
    expect((await run({ 'check-cert': 'my cert.pem' }, tlsView)).stderr).toMatch(/--check-cert: "my cert.pem" must be a path without spaces/);
  });

  it('with --out --check, writes only what HAProxy accepts', async () => {
    requireHaproxy();
    const out = join(dir, 'haproxy.cfg');
    const ok = await run({ out, check: true, 'stats-port': 'none' });
    expect(ok.code).toBe(0);
    const good = readFileSync(out, 'utf8');
    expect(good).toContain('server node3');

    const broken = join(dir, 'broken.tmpl');
    writeFileSync(broken, '{{config}}\nlisten broken\n    option no-such-option\n');
    const r = await run({ out, check: true, template: broken });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HAProxy rejects the new config; .*haproxy\.cfg left as it was/);
    expect(readFileSync(out, 'utf8')).toBe(good);
  });
});
