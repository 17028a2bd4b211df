// One range read → ClusterSnapshot: bad values are absent and warned about once per value.
import { describe, expect, test } from 'vitest';
import type { IKeyValue } from 'etcd3';
import { BadValueLog } from '../../../agent/dcs/bad-values.js';
import { decodeCluster } from '../../../agent/dcs/cluster.js';
import { encodeMember, encodeStatus } from '../../../agent/dcs/codec.js';
import { ClusterKeys } from '../../../agent/dcs/keys.js';
import { NO_TAGS, type MemberRecord } from '../../../agent/core/types.js';
import { captureLogger, WARN } from '../../harness/capture-log.js';

const keys = new ClusterKeys('/pgwarden', 'demo');

function kv(key: string, value: string, extra: Partial<IKeyValue> = {}): IKeyValue {
  return {
    key: keys.key(key), value: Buffer.from(value), create_revision: '2', mod_revision: '5', version: '1', lease: '0',
    ...extra,
  };
}

const m = (name: string): MemberRecord => ({
  name, apiUrl: `http://${name}:8008`, connUrl: `postgres://${name}:5432/postgres`, host: name, port: 5432,
  role: 'replica', state: 'running', timeline: 1, walLsn: null, receivedLsn: 10, replayedLsn: 10, tags: NO_TAGS, version: '1',
});

function reader(leaseId: string | null = '77') {
  const { logger, lines } = captureLogger();
  const r = { keys, name: 'b', leaseId, badValues: new BadValueLog(logger) };
  return { r, warnings: () => lines.filter((l) => l.level === WARN) };
}

describe('decodeCluster', () => {
  test('a healthy cluster', () => {
    const { r, warnings } = reader();
    const snap = decodeCluster([
      kv('members/c', encodeMember(m('c'))),
      kv('members/b', encodeMember(m('b'))),
      kv('leader', 'b', { lease: '77' }),
      kv('initialize', '7345123456789012345'),
      kv('config', '{"pause":true,"ttl":30,"loop_wait":10,"retry_timeout":10}', { mod_revision: '9' }),
      kv('status', encodeStatus({ optime: 500, timeline: 1 })),
      kv('sync', '{"leader":"b","sync_standbys":["c"]}'),
      kv('history', '[[1,100,"r","t","b"]]'),
      kv('failover', '{"candidate":"c"}'),
      kv('optime/leader', '12'), // Patroni legacy: ignored
    ], 42, r);
    expect(snap.revision).toBe(42);
    expect(snap.configRevision).toBe(9);
    expect(snap.config?.pause).toBe(true);
    expect(snap.leaderIsOurs).toBe(true);
    expect(snap.view).toMatchObject({
      leader: 'b', paused: true, initialize: { state: 'done', systemId: '7345123456789012345' },
      status: { optime: 500, timeline: 1 }, sync: { leader: 'b', syncStandbys: ['c'] },
      failover: { candidate: 'c' }, history: [{ timeline: 1, lsn: 100, newLeader: 'b' }],
    });
    expect(snap.view.members.map((x) => x.name)).toEqual(['b', 'c']);
    expect(warnings()).toEqual([]);
  });

  test.each([
    ['our name on another lease', 'b', '12', '77', false],
    ['our name, no lease of ours', 'b', '77', null, false],
    ['another name on our lease number', 'c', '77', '77', false],
    ['ours', 'b', '77', '77', true],
  ])('leaderIsOurs: %s', (_n, value, keyLease, ourLease, expected) => {
    const { r } = reader(ourLease);
    expect(decodeCluster([kv('leader', value, { lease: keyLease })], 1, r).leaderIsOurs).toBe(expected);
  });

  test('the leader key is described even when its value is malformed (issue 11, item 6)', () => {
    const { r } = reader();
    const kv = (value: string, lease: string) => ({
      key: Buffer.from(`${r.keys.prefix}leader`), value: Buffer.from(value), lease, mod_revision: '41', create_revision: '40', version: '1',
    }) as never;
    expect(decodeCluster([kv('b', '77')], 42, r).view.leaderKey).toEqual({ revision: 41, onLease: true });
    expect(decodeCluster([kv('b', '0')], 42, r).view.leaderKey).toEqual({ revision: 41, onLease: false });
    const bad = decodeCluster([kv('', '0')], 42, r).view;
    expect(bad.leader).toBeNull();
    expect(bad.leaderKey).toEqual({ revision: 41, onLease: false });
  });

  test('empty cluster', () => {
    const { r } = reader();
    const snap = decodeCluster([], 1, r);
    expect(snap).toEqual({
      view: { initialize: { state: 'absent' }, leader: null, leaderKey: null, members: [], status: null, failover: null, sync: null, history: [], paused: false },
      config: null, configRevision: 0, revision: 1, leaderIsOurs: false, initializeIsOurs: false,
    });
  });

  test.each([
    ['our claim: on our lease', '', '77', '77', true],
    ['a claim on another lease (another member bootstrapping)', '', '12', '77', false],
    ['a claim on no lease (written by an older version or by hand)', '', '0', '77', false],
    ['our claim, but we have no lease now', '', '77', null, false],
    ['a system identifier, even on our lease', '7345123456789012345', '77', '77', false],
  ])('initializeIsOurs: %s', (_n, value, keyLease, ourLease, expected) => {
    const { r } = reader(ourLease);
    const snap = decodeCluster([kv('initialize', value, { lease: keyLease })], 1, r);
    expect(snap.initializeIsOurs).toBe(expected);
    expect(snap.view.initialize.state).toBe(value === '' ? 'bootstrapping' : 'done');
  });

  test('malformed values are absent, warned about once per distinct value', () => {
    const { r, warnings } = reader();
    const bad = [
      kv('members/c', '{"api_url":'),
      kv('members/b', encodeMember(m('b'))),
      kv('members/x/y', encodeMember(m('y'))),
      kv('status', '{"optime":"soon"}'),
      kv('config', '{"ttl":"abc"}', { mod_revision: '11' }),
      kv('leader', ''),
      kv('initialize', 'maybe'),
      kv('history', '{}'),
      kv('sync', '[]'),
      kv('failover', '7'),
    ];
    const first = decodeCluster(bad, 3, r);
    expect(first.view.members.map((x) => x.name)).toEqual(['b']);
    // A malformed `initialize` is not "absent" (every member would race to bootstrap over it):
    // the cluster counts as initialized with an unknown system identifier.
    expect(first.view).toMatchObject({ status: null, leader: null, initialize: { state: 'malformed' }, history: [], sync: null, failover: null });
    expect(first.config).toBeNull();
    expect(first.configRevision).toBe(11); // a CAS may still replace the bad value
    const keysWarned = warnings().map((l) => l['key']);
    expect(keysWarned.sort()).toEqual([
      'config', 'failover', 'history', 'initialize', 'leader', 'members/c', 'members/x/y', 'status', 'sync',
    ].map((k) => `/pgwarden/demo/${k}`).sort());
    expect(warnings().find((l) => l['key'] === '/pgwarden/demo/members/c')).toMatchObject({ reason: expect.stringMatching(/not JSON/) });

    // The same bad values on the next cycles: no new warnings.
    decodeCluster(bad, 4, r);
    decodeCluster(bad, 5, r);
    expect(warnings()).toHaveLength(9);

    // A different bad value for one key: one more warning.
    decodeCluster(bad.map((x) => (x.key.toString().endsWith('/status') ? kv('status', '{"optime":1}') : x)), 6, r);
    expect(warnings()).toHaveLength(10);

    // Fixed, then broken again the same way: warned again.
    decodeCluster([kv('status', encodeStatus({ optime: 1, timeline: 1 }))], 7, r);
    decodeCluster([kv('status', '{"optime":1}')], 8, r);
    expect(warnings()).toHaveLength(11);
  });
});
