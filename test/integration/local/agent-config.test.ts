// The pgwarden.yml LocalCluster writes for each agent is one the real loader accepts, and says
// what the harness relies on (addresses, passwords, tags, bootstrap.dcs overrides).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../../agent/config/index.js';
import { renderAgentConfig, type AgentConfigInput } from '../../harness/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-agent-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const input: AgentConfigInput = {
  name: 'node2',
  scope: 'local',
  namespace: '/pgwarden',
  etcdHosts: ['127.0.0.1:12379', '127.0.0.1:12381', '127.0.0.1:12383'],
  apiPort: 18009,
  pgPort: 15433,
  dataDir: '/tmp/run/node2/data',
  pgBinDir: '/usr/lib/postgresql/15/bin',
  credentials: {
    superuser: { username: 'postgres', password: 'su-secret' },
    replication: { username: 'replicator', password: 'repl-secret' },
    api: { username: 'pgwarden', password: 'api-secret' },
  },
  logLevel: 'debug',
  pgParameters: { shared_buffers: '32MB', max_connections: 50 },
  tags: { nofailover: true },
  dcs: { ttl: 5, loop_wait: 1, retry_timeout: 1, synchronous_mode: true },
};

function load(text: string, name: string) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return loadAgentConfig({ file, env: {} });
}

describe('the generated agent config', () => {
  it('is accepted by the loader and carries every field the harness relies on', () => {
    const cfg = load(renderAgentConfig(input), 'node2.yml');
    expect(cfg.name).toBe('node2');
    expect(cfg.scope).toBe('local');
    expect(cfg.etcd.hosts).toEqual(input.etcdHosts);
    expect(cfg.restapi.listen).toBe('127.0.0.1:18009');
    expect(cfg.restapi.connect_address).toBe('127.0.0.1:18009');
    expect(cfg.restapi.auth).toEqual({ username: 'pgwarden', password: 'api-secret' });
    expect(cfg.postgresql.port).toBe(15433);
    expect(cfg.postgresql.listen).toBe('127.0.0.1');
    expect(cfg.postgresql.connect_address).toBe('127.0.0.1:15433');
    expect(cfg.postgresql.data_dir).toBe('/tmp/run/node2/data');
    expect(cfg.postgresql.superuser).toEqual({ username: 'postgres', password: 'su-secret' });
    expect(cfg.postgresql.replication).toEqual({ username: 'replicator', password: 'repl-secret' });
    expect(cfg.postgresql.parameters).toEqual({ shared_buffers: '32MB', max_connections: 50 });
    expect(cfg.postgresql.pg_hba.length).toBeGreaterThan(0);
    expect(cfg.tags.nofailover).toBe(true);
    expect(cfg.bootstrap.dcs.ttl).toBe(5);
    expect(cfg.bootstrap.dcs.synchronous_mode).toBe(true);
    expect(cfg.log).toEqual({ level: 'debug', format: 'json' });
  });

  it('is accepted without optional parts and lets extra config override any key', () => {
    const { tags: _t, dcs: _d, pgParameters: _p, ...minimal } = input;
    const cfg = load(renderAgentConfig({ ...minimal, extra: { restapi: { auth: null }, log: { level: 'info' } } }), 'minimal.yml');
    expect(cfg.restapi.auth).toBeUndefined();
    expect(cfg.log.level).toBe('info');
    expect(cfg.tags.nofailover).toBe(false);
  });
});
