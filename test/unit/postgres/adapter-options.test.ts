import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { AgentConfig } from '../../../agent/config/types.js';
import { PostgresAdapter } from '../../../agent/postgres/index.js';

const logger = pino({ level: 'silent' });
const uid = process.getuid!();
const gid = process.getgid!();
// As root any non-root uid works; otherwise runAs must be ourselves.
const runAs = uid === 0 ? { uid: 4242, gid: 4242 } : { uid, gid };

function pg(dataDir: string): AgentConfig['postgresql'] {
  return {
    bin_dir: '/usr/lib/postgresql/15/bin', data_dir: dataDir, listen: '127.0.0.1', connect_address: '127.0.0.1:5432', port: 5432,
    superuser: { username: 'postgres' }, replication: { username: 'replicator' }, parameters: {}, pg_hba: [],
  };
}

describe('PostgresAdapter options', () => {
  it('puts the socket next to a short data dir and under /tmp for a long one', () => {
    const short = new PostgresAdapter({ name: 'a', pg: pg('/tmp/pgw-opts/data'), logger, runAs });
    expect(short.runDir).toBe('/tmp/pgw-opts/data.run');
    const long = new PostgresAdapter({ name: 'a', pg: pg(`/tmp/${'x'.repeat(90)}/data`), logger, runAs });
    expect(long.runDir).toMatch(/^\/tmp\/pgwarden-\d+-[0-9a-f]{8}$/);
    expect(long.localConnection()).toMatchObject({ host: long.runDir, port: 5432, user: 'postgres', database: 'postgres' });
  });

  it('resolves a relative data dir', () => {
    const a = new PostgresAdapter({ name: 'a', pg: pg('rel/data'), logger, runAs });
    expect(a.dataDir).toBe(`${process.cwd()}/rel/data`);
  });

  it('refuses root as runAs', () => {
    expect(() => new PostgresAdapter({ name: 'a', pg: pg('/tmp/x'), logger, runAs: { uid: 0, gid: 0 } })).toThrow(/root/);
  });

  it('without runAs: refused as root, accepted as any other user', () => {
    const make = () => new PostgresAdapter({ name: 'a', pg: pg('/tmp/x'), logger });
    if (uid === 0) expect(make).toThrow(/runAs/);
    else expect(make).not.toThrow();
  });
});
