// The agent binary with a bad config: exit code 2, the file and key named, nothing started.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findRepoDir } from '../../harness/index.js';

const cli = join(findRepoDir(), 'dist/agent/cli.js');
const base = `name: n1
scope: s
etcd: { hosts: ["127.0.0.1:2379"] }
postgresql: { data_dir: /tmp/x/data }
`;

const rows: { what: string; yaml: string; key: RegExp }[] = [
  { what: 'timing rule broken', yaml: `${base}bootstrap: { dcs: { ttl: 3, loop_wait: 2, retry_timeout: 1 } }\n`, key: /bootstrap\.dcs\.ttl.*loop_wait.*retry_timeout/s },
  { what: 'unknown key', yaml: `${base}postgres: {}\n`, key: /postgres\b/ },
  { what: 'bad enum', yaml: `${base}log: { level: loud }\n`, key: /log\.level.*(trace|debug|info)/s },
  { what: 'relative data_dir', yaml: base.replace('/tmp/x/data', 'data'), key: /postgresql\.data_dir/ },
];

describe('pgwarden agent with a bad config', () => {
  it.each(rows)('$what → exit 2 naming the key', ({ yaml, key }) => {
    const dir = mkdtempSync(join(tmpdir(), 'pgw-badcfg-'));
    const file = join(dir, 'pgwarden.yml');
    writeFileSync(file, yaml);
    const res = spawnSync(process.execPath, [cli, 'agent', '-c', file], { encoding: 'utf8', timeout: 20_000 });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(file);
    expect(res.stderr).toMatch(key);
  });

  it('a missing config file → exit 2', () => {
    const res = spawnSync(process.execPath, [cli, 'agent', '-c', '/nonexistent/pgwarden.yml'], { encoding: 'utf8', timeout: 20_000 });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/nonexistent\/pgwarden\.yml/);
  });
});
