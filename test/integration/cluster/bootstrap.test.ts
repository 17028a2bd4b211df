// From empty data directories to one primary and two streaming replicas; a row written through
// HAProxy's read-write port reaches both replicas. Then: a second agent using a name already in
// use, and an agent whose data directory belongs to another cluster, both refuse to start.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocatePorts, sql, withCluster } from '../../harness/index.js';
import { direct } from './support.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';

describe('bootstrap of a 3-node cluster', () => {
  const cluster = withCluster({ agents: 3, scope: 'itboot', waitReady: { timeoutMs: 120_000 } });

  it('elects exactly one primary with two streaming replicas', async () => {
    const st = await cluster.statuses();
    const roles = Object.values(st).map((s) => `${s.role}/${s.state}`).sort();
    expect(roles).toEqual(['primary/running', 'replica/running', 'replica/running']);
    const primary = cluster.node(Object.entries(st).find(([, s]) => s.role === 'primary')![0]);
    const repl = await cluster.waitFor(() => direct<{ application_name: string; state: string }>(cluster, primary,
      'SELECT application_name, state FROM pg_stat_replication ORDER BY 1'), {
      timeoutMs: 20_000, what: 'two streaming replicas in pg_stat_replication',
      until: (rows) => rows.length === 2 && rows.every((r) => r.state === 'streaming'),
    });
    expect(repl.map((r) => r.application_name).sort()).toEqual(cluster.nodes.filter((n) => n !== primary).map((n) => n.name).sort());
    // The leader key names the primary, and initialize holds its system identifier.
    const leader = await cluster.etcdctl(['get', '--print-value-only', `${cluster.namespace}/${cluster.scope}/leader`]);
    expect(leader.stdout.trim()).toBe(primary.name);
    const sysid = (await direct<{ system_identifier: string }>(cluster, primary,
      'SELECT system_identifier::text FROM pg_control_system()'))[0]!.system_identifier;
    const init = await cluster.etcdctl(['get', '--print-value-only', `${cluster.namespace}/${cluster.scope}/initialize`]);
    expect(init.stdout.trim()).toBe(sysid);
    // Data checksums are on (pg_rewind needs them or wal_log_hints).
    const { data_checksums } = (await direct<{ data_checksums: string }>(cluster, primary, 'SHOW data_checksums'))[0]!;
    expect(data_checksums).toBe('on');
  });

  it('replicates a row written through HAProxy to both replicas', async () => {
    const marker = `boot-${Date.now()}`;
    await sql(cluster.rwConnString(), 'CREATE TABLE IF NOT EXISTS it_boot (v text)', [], { timeoutMs: 5000 });
    await sql(cluster.rwConnString(), 'INSERT INTO it_boot VALUES ($1)', [marker], { timeoutMs: 5000 });
    const st = await cluster.statuses();
    const replicas = cluster.nodes.filter((n) => st[n.name]?.role === 'replica');
    expect(replicas).toHaveLength(2);
    for (const r of replicas) {
      await cluster.waitFor(() => direct(cluster, r, 'SELECT 1 FROM it_boot WHERE v = $1', [marker]), {
        timeoutMs: 10_000, what: `row on ${r.name}`, until: (rows) => rows.length === 1,
      });
      const { ro } = (await direct<{ ro: boolean }>(cluster, r, 'SELECT pg_is_in_recovery() AS ro'))[0]!;
      expect(ro).toBe(true);
    }
  });

  it('refuses to start a second agent with a name already in use', async () => {
    const node1 = cluster.node('node1');
    const [api, pgPort] = await allocatePorts(2);
    const res = spawnSync(process.execPath, [join(cluster.repoDir, 'dist/agent/cli.js'), 'agent', '-c', node1.configFile,
      '--set', `restapi.listen=127.0.0.1:${api}`, '--set', `restapi.connect_address=127.0.0.1:${api}`,
      '--set', `postgresql.port=${pgPort}`, '--set', `postgresql.connect_address=127.0.0.1:${pgPort}`,
      '--set', `postgresql.data_dir=${join(cluster.runDir, 'dup', 'data')}`, '--set', 'log.level=warn'],
    { encoding: 'utf8', timeout: 30_000 });
    expect(res.status, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/member name "node1" is already in use by a live agent/);
    // Nothing was changed: node1 is still there and answering.
    expect((await cluster.apiStatus('node1')).name).toBe('node1');
  });

  it('refuses to start on a data directory of another cluster', async () => {
    const dir = join(cluster.runDir, 'foreign');
    mkdirSync(dir, { recursive: true });
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    const data = join(dir, 'data');
    const init = spawnSync('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--init-groups',
      join(PG_BIN, 'initdb'), '-D', data, '-U', 'postgres', '--no-sync'], { encoding: 'utf8', timeout: 60_000 });
    expect(init.status, init.stderr).toBe(0);
    const [api, pgPort] = await allocatePorts(2);
    const cfg = readFileSync(cluster.node('node1').configFile, 'utf8');
    const cfgFile = join(dir, 'foreign.yml');
    writeFileSync(cfgFile, cfg);
    const res = spawnSync(process.execPath, [join(cluster.repoDir, 'dist/agent/cli.js'), 'agent', '-c', cfgFile,
      '--set', 'name=foreign', '--set', `restapi.listen=127.0.0.1:${api}`, '--set', `restapi.connect_address=127.0.0.1:${api}`,
      '--set', `postgresql.port=${pgPort}`, '--set', `postgresql.connect_address=127.0.0.1:${pgPort}`,
      '--set', `postgresql.data_dir=${data}`, '--set', 'log.level=warn'],
    { encoding: 'utf8', timeout: 30_000 });
    expect(res.status, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/data directory belongs to another cluster \(`initialize` holds system identifier \d+, my data has \d+\)/);
    const members = await cluster.etcdctl(['get', '--keys-only', '--prefix', `${cluster.namespace}/${cluster.scope}/members/`]);
    expect(members.stdout).not.toMatch(/foreign/);
  });
});
