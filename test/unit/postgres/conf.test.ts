import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../../agent/config/types.js';
import {
  buildConninfo, parseSynchronousStandbyNames, parseUpstream, quoteGuc, renderHba, renderPgpass, renderPostgresqlConf, type ConfInput,
} from '../../../agent/postgres/conf.js';

function pgCfg(over: Partial<AgentConfig['postgresql']> = {}): AgentConfig['postgresql'] {
  return {
    bin_dir: '/usr/lib/postgresql/15/bin', data_dir: '/var/lib/pg/data', listen: '0.0.0.0', connect_address: '10.0.0.1:5432',
    port: 5432, superuser: { username: 'postgres', password: 'x' }, replication: { username: 'replicator', password: 'y' },
    parameters: {}, pg_hba: [], ...over,
  };
}

function input(over: Partial<ConfInput> = {}): ConfInput {
  return { name: 'node-1', pg: pgCfg(), socketDir: '/var/lib/pg/data.run', passfile: '/var/lib/pg/data.run/pgpass', upstream: null, synchronousStandbyNames: '', ...over };
}

/** setting → raw value text, last one wins (as in PostgreSQL). */
function settings(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^([a-z_]+) = (.*)$/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

describe('renderPostgresqlConf', () => {
  it('lets the user choose another wal_sender_timeout', () => {
    const { text, warnings } = renderPostgresqlConf(input({ pg: pgCfg({ parameters: { wal_sender_timeout: '30s' } }) }));
    expect(settings(text).get('wal_sender_timeout')).toBe("'30s'");
    expect(warnings).toEqual([]);
  });

  it('includes the base conf first and writes the replication settings', () => {
    const { text, warnings } = renderPostgresqlConf(input());
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^# Managed by pgwarden/);
    expect(lines.find((l) => !l.startsWith('#'))).toBe("include 'postgresql.base.conf'");
    const s = settings(text);
    expect(s.get('wal_level')).toBe("'replica'");
    expect(s.get('hot_standby')).toBe('on');
    expect(s.get('max_wal_senders')).toBe('10');
    expect(s.get('max_replication_slots')).toBe('10');
    expect(s.get('wal_log_hints')).toBe('on');
    expect(s.get('hot_standby_feedback')).toBe('on');
    expect(s.get('wal_keep_size')).toBe("'128MB'");
    expect(s.get('wal_receiver_status_interval')).toBe("'1s'");
    expect(s.get('wal_sender_timeout')).toBe("'5s'");
    expect(s.get('wal_retrieve_retry_interval')).toBe("'500ms'");
    expect(s.get('recovery_target_timeline')).toBe("'latest'");
    expect(s.get('listen_addresses')).toBe("'0.0.0.0'");
    expect(s.get('port')).toBe('5432');
    expect(s.get('unix_socket_directories')).toBe("'/var/lib/pg/data.run'");
    expect(s.get('primary_slot_name')).toBe("'node_1_" + s.get('primary_slot_name')!.slice(8));
    expect(s.get('primary_conninfo')).toBe("''");
    expect(text).not.toContain('# pgwarden upstream:');
    expect(warnings).toEqual([]);
  });

  it('writes primary_conninfo and the upstream marker for a standby', () => {
    const { text } = renderPostgresqlConf(input({ upstream: { name: 'node-2', host: '10.0.0.2', port: 5433 } }));
    expect(settings(text).get('primary_conninfo')).toBe(
      quoteGuc('host=10.0.0.2 port=5433 user=replicator application_name=node-1 passfile=/var/lib/pg/data.run/pgpass connect_timeout=5'));
    expect(text).toContain('# pgwarden upstream: node-2\n');
    expect(parseUpstream(text)).toEqual({ name: 'node-2', host: '10.0.0.2', port: 5433 });
  });

  it('omits passfile when there is no replication password', () => {
    const { text } = renderPostgresqlConf(input({ passfile: null, upstream: { name: 'b', host: 'h', port: 1 } }));
    expect(settings(text).get('primary_conninfo')).not.toContain('passfile');
  });

  it('lets user parameters win, except managed settings and replication minimums', () => {
    const { text, warnings } = renderPostgresqlConf(input({
      pg: pgCfg({ parameters: {
        wal_keep_size: '1GB', Shared_Buffers: '1GB', port: 9999, max_wal_senders: 4, max_replication_slots: 20,
        wal_level: 'minimal', hot_standby: false, synchronous_commit: false, log_line_prefix: "it's %m ",
      } }),
    }));
    const s = settings(text);
    expect(s.get('wal_keep_size')).toBe("'1GB'");
    expect(s.get('shared_buffers')).toBe("'1GB'");
    expect(s.get('port')).toBe('5432');
    expect(s.get('max_wal_senders')).toBe('10');
    expect(s.get('max_replication_slots')).toBe('20');
    expect(s.get('wal_level')).toBe("'replica'");
    expect(s.get('hot_standby')).toBe('on');
    expect(s.get('synchronous_commit')).toBe('off');
    expect(s.get('log_line_prefix')).toBe("'it''s %m '");
    expect(warnings).toHaveLength(4);
    expect(warnings.join('\n')).toMatch(/port is managed/);
  });

  it('keeps wal_level=logical', () => {
    const { text } = renderPostgresqlConf(input({ pg: pgCfg({ parameters: { wal_level: 'logical' } }) }));
    expect(settings(text).get('wal_level')).toBe("'logical'");
  });
});

describe('quoting', () => {
  it('escapes GUC strings (quotes doubled, backslashes escaped)', () => {
    expect(quoteGuc("a'b\\c")).toBe("'a''b\\\\c'");
  });
  it('quotes conninfo values only when needed', () => {
    expect(buildConninfo({ host: 'h', password: "a b'c\\", port: 5, skip: undefined, empty: '' })).toBe("host=h password='a b\\'c\\\\' port=5");
  });
  it('escapes : and \\ in the passfile and skips roles without password', () => {
    expect(renderPgpass([{ username: 'r:1', password: "p:w\\'" }, { username: 'none' }])).toBe("*:*:*:r\\:1:p\\:w\\\\'\n");
  });
});

describe('parseUpstream', () => {
  it('reads IPv6 hosts and ignores incomplete markers', () => {
    expect(parseUpstream('# pgwarden upstream: b\n# pgwarden upstream-address: [::1]:5432\n')).toEqual({ name: 'b', host: '::1', port: 5432 });
    expect(parseUpstream('# pgwarden upstream: b\n')).toBeNull();
    expect(parseUpstream('')).toBeNull();
  });
});

describe('renderHba', () => {
  it('puts operator lines first and uses scram when passwords are set', () => {
    const { text, warnings } = renderHba(pgCfg({ pg_hba: ['hostssl all all 10.0.0.0/8 cert'] }));
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual([
      'hostssl all all 10.0.0.0/8 cert',
      'local   all          all                        trust',
      'local   replication  all                        trust',
      'host    replication  "replicator"  all  scram-sha-256',
      'host    all          "postgres"  all  scram-sha-256',
    ]);
    expect(warnings).toEqual([]);
  });

  it('without passwords, trust stays on the local socket: no network line trusts anyone (issue 11, item 16)', () => {
    const { text, warnings } = renderHba(pgCfg({ replication: { username: 'all' }, superuser: { username: 'postgres' } }));
    const active = text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const line of active.filter((l) => /\btrust\b/.test(l.replace(/#.*/, '')))) expect(line).toMatch(/^local\s/);
    expect(active.filter((l) => /^host/.test(l))).toEqual([
      'host    replication  "all"  all  reject  # no postgresql.replication.password: no trust over the network',
      'host    all          "postgres"  all  reject  # no postgresql.superuser.password: no trust over the network',
    ]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/postgresql\.replication\.password.*only over the local socket/);
    expect(warnings[1]).toMatch(/postgresql\.superuser\.password/);
  });

  it('a role without a password can still be admitted by the operator\'s own lines, which come first', () => {
    const { text } = renderHba(pgCfg({ replication: { username: 'replicator' }, pg_hba: ['hostssl replication replicator 10.0.0.0/8 cert'] }));
    const active = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(active.indexOf('hostssl replication replicator 10.0.0.0/8 cert')).toBeLessThan(active.findIndex((l) => l.includes('reject')));
  });
});

describe('synchronous_standby_names', () => {
  it('is rendered as managed and parsed back (survives agent restarts)', () => {
    const { text } = renderPostgresqlConf(input({ synchronousStandbyNames: 'FIRST 1 ("node-2")' }));
    expect(settings(text).get('synchronous_standby_names')).toBe(`'FIRST 1 ("node-2")'`);
    expect(parseSynchronousStandbyNames(text)).toBe('FIRST 1 ("node-2")');
    expect(parseSynchronousStandbyNames(renderPostgresqlConf(input()).text)).toBe('');
  });

  it('cannot be set through postgresql.parameters', () => {
    const { text, warnings } = renderPostgresqlConf(input({ pg: pgCfg({ parameters: { synchronous_standby_names: '*' } }) }));
    expect(settings(text).get('synchronous_standby_names')).toBe("''");
    expect(warnings.join()).toMatch(/synchronous_standby_names is managed/);
  });
});

describe('use_slots', () => {
  it('names this member\'s slot by default and none when use_slots is off', () => {
    expect(settings(renderPostgresqlConf(input()).text).get('primary_slot_name')).toMatch(/^'node_1_[0-9a-f]{8}'$/);
    expect(settings(renderPostgresqlConf(input({ useSlots: false })).text).get('primary_slot_name')).toBe("''");
  });
});

describe('cluster-wide parameters (dynamic config postgresql.parameters, issue 11 item 13)', () => {
  it('are rendered, and the node\'s own postgresql.parameters win name by name (case-insensitive)', () => {
    const { text } = renderPostgresqlConf(input({
      pg: pgCfg({ parameters: { Work_Mem: '8MB' } }),
      clusterParameters: { work_mem: '64MB', maintenance_work_mem: '128MB', max_connections: 200 },
    }));
    expect(text).toMatch(/^work_mem = '8MB'$/m);
    expect(text).not.toMatch(/64MB/);
    expect(text).toMatch(/^maintenance_work_mem = '128MB'$/m);
    expect(text).toMatch(/^max_connections = 200$/m);
  });

  it('cannot override managed settings or the replication minimums', () => {
    const { text, warnings } = renderPostgresqlConf(input({ clusterParameters: { port: 1, max_wal_senders: 2, hot_standby: 'off' } }));
    expect(text).not.toMatch(/^port = 1$/m);
    expect(text).toMatch(/^max_wal_senders = 10$/m);
    expect(text).toMatch(/^hot_standby = on$/m);
    expect(warnings.join('\n')).toMatch(/dynamic config postgresql\.parameters\.port is managed by pgwarden/);
  });
});
