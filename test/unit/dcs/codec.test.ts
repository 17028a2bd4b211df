// Wire formats of the etcd values: good values decode, malformed ones are refused with a reason,
// and no input makes a decoder throw.
import { describe, expect, test } from 'vitest';
import {
  decodeFailover, decodeHistory, decodeInitialize, decodeLeader, decodeMember, decodeStatus, decodeSync,
  encodeFailover, encodeHistory, encodeMember, encodeStatus, encodeSync, sameSync, type Decoded,
} from '../../../agent/dcs/codec.js';
import { decodeConfig, encodeConfig } from '../../../agent/dcs/config-value.js';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { NO_TAGS, type MemberRecord } from '../../../agent/core/types.js';

const member: MemberRecord = {
  name: 'node1',
  apiUrl: 'http://10.0.0.1:8008',
  connUrl: 'postgres://10.0.0.1:5432/postgres',
  host: '10.0.0.1',
  port: 5432,
  role: 'primary',
  state: 'running',
  timeline: 3,
  walLsn: 0x16b374d848,
  receivedLsn: null,
  replayedLsn: null,
  tags: { nofailover: false, failoverPriority: 2, noloadbalance: true, nosync: false },
  version: '0.1.0',
};
const memberWire = JSON.parse(encodeMember(member)) as Record<string, unknown>;
const withMember = (patch: Record<string, unknown>): string => JSON.stringify({ ...memberWire, ...patch });

function expectOk<T>(d: Decoded<T>): T {
  if (!d.ok) throw new Error(`expected ok, got: ${d.reason}`);
  return d.value;
}

describe('members/<name>', () => {
  test('round-trips through the snake_case wire format', () => {
    expect(memberWire).toMatchObject({
      api_url: 'http://10.0.0.1:8008', conn_url: 'postgres://10.0.0.1:5432/postgres', host: '10.0.0.1', port: 5432,
      role: 'primary', state: 'running', timeline: 3, xlog_location: 0x16b374d848,
      received_location: null, replayed_location: null,
      tags: { nofailover: false, failover_priority: 2, noloadbalance: true, nosync: false }, version: '0.1.0',
    });
    expect(expectOk(decodeMember('node1', encodeMember(member)))).toEqual(member);
  });

  test.each([
    ['tags absent → defaults', { tags: undefined }, { tags: NO_TAGS }],
    ['partial tags → defaults for the rest', { tags: { nofailover: true } }, { tags: { ...NO_TAGS, nofailover: true } }],
    ['timeline and LSNs absent → null', { timeline: undefined, xlog_location: undefined }, { timeline: null, walLsn: null }],
    ['pg_lsn text accepted', { received_location: '16/B374D848' }, { receivedLsn: 0x16b374d848 }],
    ['unknown fields ignored', { pending_restart: true }, {}],
    ['version absent → ""', { version: undefined }, { version: '' }],
  ])('accepts: %s', (_name, patch, expected) => {
    expect(expectOk(decodeMember('node1', withMember(patch)))).toMatchObject(expected);
  });

  test.each([
    ['not JSON', '{"api_url":', /not JSON/],
    ['empty', '', /not JSON/],
    ['an array', '[]', /object/],
    ['null', 'null', /object/],
    ['a string', '"x"', /object/],
    ['api_url missing', withMember({ api_url: undefined }), /api_url/],
    ['api_url empty', withMember({ api_url: '' }), /api_url/],
    ['port a string', withMember({ port: '5432' }), /port/],
    ['port out of range', withMember({ port: 70000 }), /port/],
    ['port fractional', withMember({ port: 5432.5 }), /port/],
    ['role unknown', withMember({ role: 'master' }), /role/],
    ['state unknown', withMember({ state: 'dancing' }), /state/],
    ['timeline zero', withMember({ timeline: 0 }), /timeline/],
    ['LSN negative', withMember({ xlog_location: -1 }), /xlog_location/],
    ['LSN garbage text', withMember({ xlog_location: 'zz' }), /xlog_location/],
    ['LSN unsafe integer', withMember({ xlog_location: 2 ** 60 }), /xlog_location/],
    ['tags not an object', withMember({ tags: [] }), /tags/],
    ['tag of the wrong type', withMember({ tags: { nofailover: 'yes' } }), /tags.nofailover/],
    ['failover_priority negative', withMember({ tags: { failover_priority: -1 } }), /failover_priority/],
    ['version a number', withMember({ version: 1 }), /version/],
  ])('rejects: %s', (_name, raw, reason) => {
    const d = decodeMember('node1', raw);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toMatch(reason);
  });
});

describe('leader and initialize', () => {
  test.each([
    ['node1', true], ['', false], [' node1', false], ['a/b', false],
  ])('leader %j → ok=%s', (raw, ok) => {
    expect(decodeLeader(raw).ok).toBe(ok);
  });

  test.each([
    ['', { state: 'bootstrapping' }],
    ['7345123456789012345', { state: 'done', systemId: '7345123456789012345' }],
    ['abc', null],
    ['12 ', null],
    ['{"id":1}', null],
  ])('initialize %j', (raw, expected) => {
    const d = decodeInitialize(raw);
    if (expected === null) expect(d.ok).toBe(false);
    else expect(expectOk(d)).toEqual(expected);
  });
});

describe('status, failover, sync, history', () => {
  const cases: Array<[string, (raw: string) => Decoded<unknown>, string, unknown]> = [
    ['status', decodeStatus, encodeStatus({ optime: 123456, timeline: 2 }), { optime: 123456, timeline: 2 }],
    ['status with pg_lsn optime', decodeStatus, '{"optime":"0/1E240","timeline":1}', { optime: 123456, timeline: 1 }],
    ['status with extra keys', decodeStatus, '{"optime":1,"timeline":1,"slots":{}}', { optime: 1, timeline: 1 }],
    ['status: optime a word', decodeStatus, '{"optime":"x","timeline":1}', null],
    ['status: no timeline', decodeStatus, '{"optime":1}', null],
    ['status: array', decodeStatus, '[1,1]', null],
    ['failover: switchover', decodeFailover, encodeFailover({ leader: 'a', candidate: 'b', scheduledAt: '2030-01-01T00:00:00Z' }),
      { leader: 'a', candidate: 'b', scheduledAt: '2030-01-01T00:00:00Z' }],
    ['failover: candidate only', decodeFailover, '{"candidate":"b"}', { candidate: 'b' }],
    ['failover: empty object', decodeFailover, '{}', null],
    ['failover: bad time', decodeFailover, '{"leader":"a","scheduled_at":"tomorrow-ish"}', null],
    ['failover: leader a number', decodeFailover, '{"leader":1}', null],
    ['sync', decodeSync, encodeSync({ leader: 'a', syncStandbys: ['b', 'c'] }), { leader: 'a', syncStandbys: ['b', 'c'] }],
    ['sync: no standbys', decodeSync, '{"leader":"a","sync_standbys":[]}', { leader: 'a', syncStandbys: [] }],
    ['sync: Patroni string form', decodeSync, '{"leader":"a","sync_standby":"b"}', null],
    ['sync: standby not a string', decodeSync, '{"leader":"a","sync_standbys":[1]}', null],
    ['sync: no leader', decodeSync, '{"sync_standbys":["b"]}', null],
    ['history', decodeHistory, encodeHistory([{ timeline: 1, lsn: 100, reason: 'no recovery target specified', timestamp: '2024-01-01T00:00:00Z', newLeader: 'b' }]),
      [{ timeline: 1, lsn: 100, reason: 'no recovery target specified', timestamp: '2024-01-01T00:00:00Z', newLeader: 'b' }]],
    ['history: short Patroni rows', decodeHistory, '[[1,100,"r"]]', [{ timeline: 1, lsn: 100, reason: 'r', timestamp: '', newLeader: '' }]],
    ['history: empty', decodeHistory, '[]', []],
    ['history: object', decodeHistory, '{"1":[1,2,"r"]}', null],
    ['history: row too short', decodeHistory, '[[1,2]]', null],
    ['history: timeline text', decodeHistory, '[["1",2,"r"]]', null],
    ['history: one bad row spoils it', decodeHistory, '[[1,2,"r"],[2,"x","r"]]', null],
  ];
  test.each(cases)('%s', (_name, decode, raw, expected) => {
    const d = decode(raw);
    if (expected === null) {
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.reason.length).toBeGreaterThan(0);
    } else {
      expect(expectOk(d)).toEqual(expected);
    }
  });

  test('sameSync compares the leader and the set of standbys', () => {
    expect(sameSync(null, null)).toBe(true);
    expect(sameSync({ leader: 'a', syncStandbys: [] }, null)).toBe(false);
    expect(sameSync({ leader: 'a', syncStandbys: ['b', 'c'] }, { leader: 'a', syncStandbys: ['c', 'b'] })).toBe(true);
    expect(sameSync({ leader: 'a', syncStandbys: ['b'] }, { leader: 'x', syncStandbys: ['b'] })).toBe(false);
    expect(sameSync({ leader: 'a', syncStandbys: ['b'] }, { leader: 'a', syncStandbys: ['b', 'c'] })).toBe(false);
  });
});

describe('config', () => {
  test('a full config round-trips; missing keys take defaults; pause is kept', () => {
    expect(expectOk(decodeConfig(encodeConfig(DEFAULT_DYNAMIC_CONFIG), 'etcd config'))).toEqual(DEFAULT_DYNAMIC_CONFIG);
    expect(expectOk(decodeConfig('{"pause":true}', 'etcd config')).pause).toBe(true);
  });

  test.each([
    ['not JSON', '{ttl: 3}'],
    ['not an object', '[1]'],
    ['wrong type', '{"ttl":"abc"}'],
  ])('rejects %s with the source in the reason', (_name, raw) => {
    const d = decodeConfig(raw, 'etcd /x/config');
    expect(d.ok).toBe(false);
  });
});

describe('no decoder throws', () => {
  const nasty = [
    '', ' ', 'null', 'true', '0', '-1', '1e400', '"str"', '[]', '[[]]', '{}', '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":1}}', '\u0000', '\uFFFD\uFFFD', '{'.repeat(5000), '[' .repeat(100000),
    JSON.stringify({ optime: Number.MAX_VALUE, timeline: Infinity }), '{"tags":null,"port":null}',
    JSON.stringify([[1, 2, 3, 4, 5, 6]]),
  ];
  const decoders: Array<[string, (raw: string) => unknown]> = [
    ['member', (r) => decodeMember('x', r)], ['leader', decodeLeader], ['initialize', decodeInitialize],
    ['status', decodeStatus], ['failover', decodeFailover], ['sync', decodeSync], ['history', decodeHistory],
    ['config', (r) => decodeConfig(r, 'etcd config')],
  ];
  test.each(decoders)('%s', (_name, decode) => {
    for (const raw of nasty) expect(() => decode(raw)).not.toThrow();
  });
});
