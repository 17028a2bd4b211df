// Issue 11, item 16: the install scripts never stop or disable a service they did not install.
// deploy/install-deps.sh runs against stubs (apt-get, dpkg-query, systemctl, npm, id, useradd and
// every probed command) in a PATH of their own: nothing on this machine is touched.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const TOOLS = ['bash', 'dirname', 'chmod', 'rm', 'cat', 'env', 'sed', 'grep', 'mkdir'];
const PROBED = ['etcd', 'etcdctl', 'haproxy', 'iptables', 'ip', 'setpriv', 'pgbench', 'wrk', 'openssl'];

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

interface Host {
  /** Packages dpkg reports installed before the run. */
  installed: string[];
  /** Commands present on the host (of PROBED, plus 'postgres'). */
  present: string[];
  /** Services systemctl reports active. */
  active: string[];
}

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
}

/** Run install-deps.sh on a stubbed host; returns its output and the calls the stubs saw. */
function runInstallDeps(host: Host): { code: number; out: string; calls: string[]; dpkg: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-install-'));
  dirs.push(dir);
  const bin = join(dir, 'bin');
  const pgBin = join(dir, 'pgbin');
  const log = join(dir, 'calls.log');
  const dpkg = join(dir, 'dpkg.txt');
  execFileSync('mkdir', ['-p', bin, pgBin]);
  for (const t of TOOLS) {
    const real = ['/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p));
    if (real) symlinkSync(real, join(bin, t));
  }
  writeFileSync(dpkg, host.installed.map((p) => `${p}\n`).join(''));
  writeFileSync(log, '');
  for (const c of PROBED.filter((p) => host.present.includes(p))) script(join(bin, c), 'exit 0');
  if (host.present.includes('postgres')) script(join(pgBin, 'postgres'), 'exit 0');
  script(join(bin, 'dpkg-query'), `pkg="\${@: -1}"; grep -qx "$pkg" ${dpkg} && printf 'install ok installed'; exit 0`);
  // apt-get install: every named package is installed, plus postgresql-common with postgresql-15.
  script(join(bin, 'apt-get'), `echo "apt-get $*" >> ${log}
if [ "$1" = install ]; then
  for a in "$@"; do case "$a" in -*|install) ;; *) echo "$a" >> ${dpkg}; [ "$a" = postgresql-15 ] && echo postgresql-common >> ${dpkg};; esac; done
fi
exit 0`);
  script(join(bin, 'systemctl'), `echo "systemctl $*" >> ${log}
if [ "$1" = is-active ]; then svc="\${@: -1}"; case " ${host.active.join(' ')} " in *" $svc "*) exit 0;; esac; exit 3; fi
exit 0`);
  script(join(bin, 'npm'), `echo "npm $*" >> ${log}; exit 0`);
  script(join(bin, 'useradd'), `echo "useradd $*" >> ${log}; exit 0`);
  script(join(bin, 'id'), `[ "$1" = -u ] && { echo 0; exit 0; }; exit 0`);
  const r = spawnSync('bash', [join(ROOT, 'deploy/install-deps.sh')], {
    env: { PATH: bin, PGWARDEN_PG_BIN_DIR: pgBin, PGW_POLICY_RC: join(dir, 'policy-rc.d'), HOME: dir },
    encoding: 'utf8',
  });
  const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`, calls, dpkg: readFileSync(dpkg, 'utf8').split('\n').filter(Boolean) };
}

const stops = (calls: string[]) => calls.filter((c) => /^systemctl (stop|disable)/.test(c));

describe('deploy/install-deps.sh', () => {
  it('leaves running services alone when it installed nothing', () => {
    const r = runInstallDeps({
      installed: ['etcd-server', 'haproxy', 'postgresql-common', 'postgresql-15'],
      present: [...PROBED, 'postgres'],
      active: ['etcd', 'haproxy', 'postgresql'],
    });
    expect(r.code, r.out).toBe(0);
    expect(stops(r.calls)).toEqual([]);
    expect(r.calls.some((c) => c.startsWith('apt-get'))).toBe(false);
    expect(r.out).toMatch(/etcd\.service is running; it was not installed by this run, so it is left alone/);
    expect(r.out).toMatch(/install-deps: ok/);
  });

  it('stops and disables only the services whose package this run installed', () => {
    const r = runInstallDeps({
      installed: ['haproxy'],
      present: PROBED.filter((p) => p !== 'etcd' && p !== 'etcdctl'),
      active: ['haproxy', 'etcd', 'postgresql'],
    });
    expect(r.code, r.out).toBe(0);
    expect(r.calls).toContainEqual(expect.stringMatching(/^apt-get install .*postgresql-15 .*etcd-server/));
    expect(stops(r.calls).sort()).toEqual(['systemctl disable etcd', 'systemctl disable postgresql', 'systemctl stop etcd', 'systemctl stop postgresql']);
    expect(r.out).toMatch(/stopped and disabled etcd\.service: its package etcd-server was installed by this run/);
    expect(r.out).toMatch(/haproxy\.service is running; it was not installed by this run/);
  });
});

describe('deploy/install-node.sh', () => {
  it('--dry-run says where the code and the unit go, and changes nothing', () => {
    const r = spawnSync('bash', [join(ROOT, 'deploy/install-node.sh'), '--dry-run', '--prefix', '/opt/pgwarden'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ExecStart=\S*node \/opt\/pgwarden\/dist\/agent\/cli\.js agent -c \/etc\/pgwarden\/pgwarden\.yml/);
    expect(r.stdout).toMatch(/dry run: nothing was changed/);
  });

  it.skipIf(process.getuid?.() !== 0)('puts the code under the prefix and the unit pointing at it; stops nothing (npm, apt, systemctl stubbed)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgw-node-'));
    dirs.push(dir);
    const stubs = join(dir, 'stubs');
    const pgBin = join(dir, 'pgbin');
    const log = join(dir, 'calls.log');
    execFileSync('mkdir', ['-p', stubs, pgBin]);
    writeFileSync(log, '');
    script(join(pgBin, 'postgres'), 'exit 0');
    for (const c of ['npm', 'systemctl', 'apt-get', 'useradd']) script(join(stubs, c), `echo "${c} $* (in $PWD)" >> ${log}; exit 0`);
    script(join(stubs, 'dpkg-query'), 'exit 0');
    const prefix = join(dir, 'opt', 'pgwarden');
    const env = {
      PATH: `${stubs}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`, PGWARDEN_PG_BIN_DIR: pgBin,
      PGW_UNIT_DIR: join(dir, 'units'), PGW_ETC_DIR: join(dir, 'etc'), PGW_BIN_LINK: join(dir, 'pgwarden'), HOME: dir,
    };
    const r = spawnSync('bash', [join(ROOT, 'deploy/install-node.sh'), '--prefix', prefix], { env, encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(existsSync(join(prefix, 'package.json'))).toBe(true);
    expect(existsSync(join(prefix, 'deploy', 'pgwarden.service'))).toBe(true);
    expect(existsSync(join(prefix, 'node_modules'))).toBe(false);
    const unit = readFileSync(join(dir, 'units', 'pgwarden.service'), 'utf8');
    expect(unit).toMatch(new RegExp(`^ExecStart=\\S*node ${prefix}/dist/agent/cli\\.js agent -c /etc/pgwarden/pgwarden\\.yml$`, 'm'));
    expect(unit).toContain(`Documentation=file://${prefix}/docs/operations.md`);
    expect(readFileSync(join(dir, 'pgwarden'), 'utf8')).toContain(`${prefix}/dist/agent/cli.js`);
    expect(existsSync(join(dir, 'etc', 'pgwarden.yml.example'))).toBe(true);
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(calls.filter((c) => c.startsWith('npm')).map((c) => c.split(' ')[1])).toEqual(['ci', 'run', 'prune']);
    expect(calls.filter((c) => c.startsWith('npm')).every((c) => c.endsWith(`(in ${prefix})`))).toBe(true);
    expect(calls.filter((c) => /^systemctl (stop|disable|enable|start)/.test(c))).toEqual([]);
    expect(calls.filter((c) => c.startsWith('apt-get'))).toEqual([]);
  });

  it('rejects a relative --prefix (exit 2)', () => {
    const r = spawnSync('bash', [join(ROOT, 'deploy/install-node.sh'), '--dry-run', '--prefix', 'opt'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
  });
});
