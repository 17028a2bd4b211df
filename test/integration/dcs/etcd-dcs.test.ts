// EtcdDcs against one real etcd: leader CAS and lease, watch latency, bad values, CAS on config,
// sync and history, the initialize key. Each test uses its own scope on the shared etcd.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from 'etcd3';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import type { EtcdDcs, EtcdDcsOptions } from '../../../agent/dcs/index.js';
import { WARN } from '../../harness/capture-log.js';
import { EtcdTestCluster, haveOpenssl } from './etcd-server.js';
import { sleep, systemClock } from '../../../agent/clock.js';
import { waitFor } from '../../../agent/local/wait.js';
import { freshScope, makeDcs, member, type TestDcs } from './support.js';
import { encodeHistory, encodeStatus } from '../../../agent/dcs/codec.js';
import type { ViewChange } from '../../../agent/ports/ports.js';

let etcd: EtcdTestCluster;
let raw: Etcd3;
const open: TestDcs[] = [];

beforeAll(async () => {
  etcd = await EtcdTestCluster.start(1);
  raw = new Etcd3({ hosts: etcd.endpoints });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close({ revokeLease: true }).catch(() => undefined)));
});
afterAll(async () => {
  raw?.close();
  await etcd?.stop();
});

function dcs(scope: string, name: string, over: Partial<EtcdDcsOptions> & { ttlSeconds?: number } = {}) {
  const d = makeDcs(etcd.endpoints, { scope, name, ...over });
  open.push(d);
  return d;
}

const prefix = (scope: string) => `/pgwarden-test/${scope}/`;

/** Members a and b of a fresh scope, each with its lease granted. */
async function leasedPair() {
  const scope = freshScope();
  const a = dcs(scope, 'a');
  const b = dcs(scope, 'b');
  await Promise.all([a.renewLease(), b.renewLease()]);
  return { scope, a, b };
}

describe('leader key', () => {
  test('two adapters race acquireLeader: exactly one wins, every time', async () => {
    for (let round = 0; round < 10; round++) {
      const scope = freshScope();
      const a = dcs(scope, 'a');
      const b = dcs(scope, 'b');
      await Promise.all([a.renewLease(), b.renewLease()]);
      const [wa, wb] = await Promise.all([a.acquireLeader(), b.acquireLeader()]);
      expect([wa, wb].filter(Boolean)).toHaveLength(1);
      const winner = wa ? 'a' : 'b';
      const [sa, sb] = await Promise.all([a.readCluster(), b.readCluster()]);
      expect(sa.view.leader).toBe(winner);
      expect(sa.leaderIsOurs).toBe(wa);
      expect(sb.leaderIsOurs).toBe(wb);
      // The loser keeps losing; the winner keeps holding.
      expect(await (wa ? b : a).acquireLeader()).toBe(false);
      expect(await (wa ? a : b).acquireLeader()).toBe(true);
    }
  });

  test('the key lives on the winner\'s lease; acquiring it again writes nothing', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    await a.renewLease();
    expect(await a.acquireLeader()).toBe(true);
    const kv = await raw.get(`${prefix(scope)}leader`).exec();
    expect(kv.kvs[0]?.value.toString()).toBe('a');
    expect(kv.kvs[0]?.lease).toBe(a.leaseId);
    // Acquiring what we hold writes nothing (no watch event for every member).
    expect(await a.acquireLeader()).toBe(true);
    const again = await raw.get(`${prefix(scope)}leader`).exec();
    expect(again.kvs[0]?.mod_revision).toBe(kv.kvs[0]?.mod_revision);
  });

  test('only the owner can release it', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    await Promise.all([a.renewLease(), b.renewLease()]);
    expect(await a.acquireLeader()).toBe(true);
    expect(await b.releaseLeader()).toBe(false);
    expect((await b.readCluster()).view.leader).toBe('a');
    expect(await a.releaseLeader()).toBe(true);
    expect((await b.readCluster()).view.leader).toBeNull();
    expect(await a.releaseLeader()).toBe(false);
  });

  test('a restarted agent rebinds its own leader key to its new lease', async () => {
    const scope = freshScope();
    const before = dcs(scope, 'a');
    await before.renewLease();
    expect(await before.acquireLeader()).toBe(true);
    const after = dcs(scope, 'a'); // same name, new process, new lease
    await after.renewLease();
    expect((await after.readCluster()).leaderIsOurs).toBe(false);
    expect(await after.acquireLeader()).toBe(true);
    expect((await after.readCluster()).leaderIsOurs).toBe(true);
    expect((await before.readCluster()).leaderIsOurs).toBe(false);
  });

  test('acquireLeader before any lease rejects with kind "no_lease"', async () => {
    const a = dcs(freshScope(), 'a');
    await expect(a.acquireLeader()).rejects.toMatchObject({ name: 'DcsError', kind: 'no_lease' });
    await expect(a.touchMember(member('a'))).rejects.toMatchObject({ kind: 'no_lease' });
  });

  test('close({revokeLease}) removes our leader and member keys at once', async () => {
    const scope = freshScope();
    const a = makeDcs(etcd.endpoints, { scope, name: 'a' });
    const b = dcs(scope, 'b');
    await a.renewLease();
    await a.acquireLeader();
    await a.touchMember(member('a'));
    await a.close({ revokeLease: true });
    const view = (await b.readCluster()).view;
    expect(view.leader).toBeNull();
    expect(view.members).toEqual([]);
    await expect(a.readCluster()).rejects.toMatchObject({ kind: 'rejected' });
  });
});

describe('leader key in a race: taken only while the view it was decided on holds', () => {
  /** What a race decided on the view of etcd revision `decidedAt` gets. */
  async function raceAt(d: EtcdDcs, decidedAt: number) {
    let changed: readonly ViewChange[] | null = null;
    const won = await d.acquireLeader({ decidedAtRevision: decidedAt, onViewChanged: (c) => { changed = c; } });
    return { won, changed };
  }
  const VALUE = {
    status: encodeStatus({ optime: 0x3000000, timeline: 2 }),
    history: encodeHistory([{ timeline: 1, lsn: 0x3000000, reason: 'no recovery target specified', timestamp: '2026-01-01T00:00:00Z', newLeader: 'b' }]),
  } as const;

  test('won when status and history are unchanged since the revision (absent, or written before it)', async () => {
    const { scope, a } = await leasedPair();
    expect(await raceAt(a, (await a.readCluster()).revision)).toEqual({ won: true, changed: null });
    expect(await a.releaseLeader()).toBe(true);
    await raw.put(`${prefix(scope)}status`).value(VALUE.status).exec();
    await raw.put(`${prefix(scope)}history`).value(VALUE.history).exec();
    expect(await raceAt(a, (await a.readCluster()).revision)).toEqual({ won: true, changed: null });
    const kv = (await raw.get(`${prefix(scope)}leader`).exec()).kvs[0];
    expect(kv?.value.toString()).toBe('a');
    expect(kv?.lease).toBe(a.leaseId);
  });

  test.each(['status', 'history'] as const)('lost, writing nothing, when %s was modified after the revision', async (key) => {
    const { scope, a } = await leasedPair();
    const decidedAt = (await a.readCluster()).revision;
    const put = await raw.put(`${prefix(scope)}${key}`).value(VALUE[key]).exec();
    const modified = Number(put.header.revision);
    expect(modified).toBeGreaterThan(decidedAt);
    expect(await raceAt(a, decidedAt)).toEqual({ won: false, changed: [{ key, modRevision: modified }] });
    const after = await a.readCluster();
    expect(after.view.leader).toBeNull();
    expect(after.revision).toBe(modified); // nothing written
    // Deciding again on the fresh view wins.
    expect(await raceAt(a, after.revision)).toEqual({ won: true, changed: null });
  });

  test('a key held by another member is a plain lost race, even when status changed too', async () => {
    const { scope, a, b } = await leasedPair();
    const decidedAt = (await a.readCluster()).revision;
    expect(await b.acquireLeader()).toBe(true);
    expect(await raceAt(a, (await a.readCluster()).revision)).toEqual({ won: false, changed: null });
    await raw.put(`${prefix(scope)}status`).value(VALUE.status).exec();
    expect(await raceAt(a, decidedAt)).toEqual({ won: false, changed: null });
    expect((await a.readCluster()).view.leader).toBe('b');
  });

  test('without a revision (bootstrap, taking our key back) nothing changes: status and history are not compared', async () => {
    const { scope, a } = await leasedPair();
    const decidedAt = (await a.readCluster()).revision;
    await raw.put(`${prefix(scope)}status`).value(VALUE.status).exec();
    expect(await a.acquireLeader()).toBe(true);
    // Already ours on our lease (an earlier attempt whose answer was lost): ours, nothing written.
    const held = (await a.readCluster()).revision;
    expect(await raceAt(a, decidedAt)).toEqual({ won: true, changed: null });
    expect((await a.readCluster()).revision).toBe(held);
    // Our key from a previous run is rebound without a revision, but not in a race on a stale view.
    const restarted = dcs(scope, 'a');
    await restarted.renewLease();
    expect((await raceAt(restarted, decidedAt)).won).toBe(false);
    expect((await restarted.readCluster()).leaderIsOurs).toBe(false);
    expect(await restarted.acquireLeader()).toBe(true);
    expect((await restarted.readCluster()).leaderIsOurs).toBe(true);
  });
});

describe('lease', () => {
  test('renewLease: first call grants, then keepalives; sentAt is monotonic and taken before the call returns', async () => {
    const a = dcs(freshScope(), 'a');
    const first = await a.renewLease();
    expect(first.newLease).toBe(true);
    let last = first.sentAt;
    for (let i = 0; i < 20; i++) {
      const start = performance.now();
      const r = await a.renewLease();
      const end = performance.now();
      expect(r.newLease).toBe(false);
      expect(r.sentAt).toBeGreaterThan(last);
      expect(r.sentAt).toBeGreaterThanOrEqual(start);
      expect(r.sentAt).toBeLessThanOrEqual(end);
      last = r.sentAt;
    }
  });

  test('the leader key vanishes one TTL after renewals stop, and the other adapter\'s watch sees it fast', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a', { ttlSeconds: 2 });
    const b = dcs(scope, 'b');
    await a.renewLease();
    expect(await a.acquireLeader()).toBe(true);
    let deletedAt: number | null = null;
    const cancel = await b.watch((key) => {
      if (key === 'leader' && deletedAt === null) deletedAt = performance.now();
    });
    const { sentAt } = await a.renewLease(); // the last renewal
    const expiry = sentAt + 2000;
    await waitFor(() => deletedAt !== null, { timeoutMs: 5000, intervalMs: 5, what: 'the watch to report the leader key deleted' });
    const late = deletedAt! - expiry;
    console.log(`leader key gone ${late.toFixed(0)} ms after lease expiry (etcd revokes within ~500 ms)`);
    expect(deletedAt!).toBeGreaterThan(expiry - 50); // not before the TTL
    expect(late).toBeLessThan(1500);
    expect((await b.readCluster()).view.leader).toBeNull();
    // Two quiet seconds: the watch's progress probes were answered, it never reconnected.
    expect(b.lines.filter((l) => l.level >= WARN)).toEqual([]);
    await cancel();

    // The old lease is gone: the next renewal says so.
    const again = await a.renewLease();
    expect(again.newLease).toBe(true);
  });

  test('a changed ttl moves the leader, member and claim keys to a lease granted with it, reporting the earlier expiry meanwhile (issue 10)', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const keyLease = async (k: string) => {
      const kv = (await raw.kv.range({ key: Buffer.from(`${prefix(scope)}${k}`) })).kvs[0];
      return kv ? (await raw.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: false })).grantedTTL : null;
    };
    await a.renewLease(3);
    expect(await a.acquireLeader()).toBe(true);
    await a.touchMember(member('a'));
    expect(await keyLease('leader')).toBe('3');
    const granted = await a.renewLease(10); // a lease with ttl 10; the keys stay on the 3 s one
    expect(granted.ttlMs).toBe(3000);
    expect(await keyLease('leader')).toBe('3');
    const moved = await a.renewLease(10); // now the keys move and the old lease is revoked
    expect(moved.ttlMs).toBe(10_000);
    expect(moved.epoch).toBeGreaterThan(granted.epoch);
    expect(await keyLease('leader')).toBe('10');
    expect(await keyLease('members/a')).toBe('10');
    expect((await a.readCluster()).leaderIsOurs).toBe(true);
    await a.renewLease(3);
    const lowered = await a.renewLease(3);
    expect(lowered.ttlMs).toBe(3000);
    expect(await keyLease('leader')).toBe('3');
    expect((await a.readCluster()).leaderIsOurs).toBe(true);
  });

  test('a put on a lease etcd forgot makes the next renewal grant a fresh one', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    await a.renewLease();
    await raw.leaseClient.leaseRevoke({ ID: a.leaseId! });
    await expect(a.touchMember(member('a'))).rejects.toMatchObject({ kind: 'no_lease' });
    expect(a.leaseId).toBeNull();
    expect((await a.renewLease()).newLease).toBe(true);
    await a.touchMember(member('a'));
  });
});

describe('watch', () => {
  test('reports every put and delete under the prefix, relative to it, within milliseconds', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    const seen: Array<{ key: string; at: number }> = [];
    const cancel = await b.watch((key) => seen.push({ key, at: performance.now() }));
    await a.renewLease();
    await a.touchMember(member('a'));
    await a.acquireLeader();
    expect(await a.writeStatus({ optime: 1, timeline: 1 })).toBe(true);
    const t0 = performance.now();
    expect(await a.releaseLeader()).toBe(true);
    const t1 = performance.now();
    await a.setFailover({ candidate: 'b' });
    await a.setFailover(null);
    await raw.put('/pgwarden-test/other-scope/leader').value('x'); // another cluster: not reported
    await waitFor(() => seen.length >= 6, { timeoutMs: 2000, intervalMs: 2, what: 'six watch events' });
    await sleep(systemClock, 100);
    expect(seen.map((s) => s.key)).toEqual(['members/a', 'leader', 'status', 'leader', 'failover', 'failover']);
    const deleteSeen = seen[3]!.at;
    console.log(`watch saw the leader delete ${(deleteSeen - t1).toFixed(1)} ms after releaseLeader resolved (${(deleteSeen - t0).toFixed(1)} ms after it was called)`);
    expect(deleteSeen - t0).toBeLessThan(100);

    await cancel();
    await a.setFailover({ candidate: 'b' });
    await sleep(systemClock, 200);
    expect(seen).toHaveLength(6);
  });
});

describe('status', () => {
  test('is written only by the leader, on the lease that holds the key', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    const status = async () => (await raw.get(`${prefix(scope)}status`).string()) ?? null;
    expect(await a.writeStatus({ optime: 1, timeline: 1 })).toBe(false); // no lease yet
    await a.renewLease();
    expect(await a.writeStatus({ optime: 1, timeline: 1 })).toBe(false); // no leader key
    expect(await status()).toBeNull();
    expect(await a.acquireLeader()).toBe(true);
    expect(await a.writeStatus({ optime: 2, timeline: 1 })).toBe(true);
    await b.renewLease();
    expect(await b.writeStatus({ optime: 99, timeline: 9 })).toBe(false); // b does not lead
    // a's key, but bound to a lease a no longer holds (a demoted leader's stale view).
    await raw.put(`${prefix(scope)}leader`).value('a');
    expect(await a.writeStatus({ optime: 3, timeline: 1 })).toBe(false);
    expect(JSON.parse((await status())!)).toEqual({ optime: 2, timeline: 1 });
  });
});

describe('values in etcd', () => {
  test('malformed member, status and config values are ignored by readCluster, with one warning each', async () => {
    const scope = freshScope();
    const p = prefix(scope);
    const a = dcs(scope, 'a');
    await a.renewLease();
    await a.touchMember(member('a'));
    await raw.put(`${p}members/broken`).value('{"api_url": "http://x:8008", ');
    await raw.put(`${p}members/wrongshape`).value(JSON.stringify({ api_url: 'http://x', port: 'many' }));
    await raw.put(`${p}status`).value('{"optime": "later"}');
    await raw.put(`${p}config`).value('{"ttl": "forever"}');

    for (let i = 0; i < 3; i++) {
      const snap = await a.readCluster();
      expect(snap.view.members.map((m) => m.name)).toEqual(['a']);
      expect(snap.view.status).toBeNull();
      expect(snap.config).toBeNull();
      expect(snap.configRevision).toBeGreaterThan(0);
    }
    const warnings = a.lines.filter((l) => l.level === WARN && typeof l['key'] === 'string');
    expect(warnings.map((w) => w['key']).sort()).toEqual(
      ['config', 'members/broken', 'members/wrongshape', 'status'].map((k) => p + k),
    );
    expect(warnings.find((w) => w['key'] === `${p}config`)?.['reason']).toMatch(/ttl/);

    // The config can still be replaced by a CAS on its revision.
    const { configRevision } = await a.readCluster();
    expect(await a.writeConfig(DEFAULT_DYNAMIC_CONFIG, configRevision)).toBe(true);
    expect((await a.readCluster()).config).toEqual(DEFAULT_DYNAMIC_CONFIG);
  });
});

describe('compare-and-swap', () => {
  test('config: create-only at bootstrap, then CAS on mod_revision; pause shows in the view', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    expect((await a.readCluster()).configRevision).toBe(0);
    await a.initializeConfig({ ...DEFAULT_DYNAMIC_CONFIG, ttl: 30 });
    await b.initializeConfig({ ...DEFAULT_DYNAMIC_CONFIG, ttl: 99 }); // too late: no effect
    const s1 = await b.readCluster();
    expect(s1.config?.ttl).toBe(30);
    expect(s1.view.paused).toBe(false);

    expect(await a.writeConfig({ ...DEFAULT_DYNAMIC_CONFIG, ttl: 31 }, 0)).toBe(false); // it exists
    const [wa, wb] = await Promise.all([
      a.writeConfig({ ...DEFAULT_DYNAMIC_CONFIG, ttl: 40 }, s1.configRevision),
      b.writeConfig({ ...DEFAULT_DYNAMIC_CONFIG, ttl: 50 }, s1.configRevision),
    ]);
    expect([wa, wb].filter(Boolean)).toHaveLength(1);
    expect(await a.writeConfig({ ...DEFAULT_DYNAMIC_CONFIG, ttl: 60 }, s1.configRevision)).toBe(false); // stale
    const s2 = await a.readCluster();
    expect(s2.config?.ttl).toBe(wa ? 40 : 50);
    expect(await a.writeConfig({ ...DEFAULT_DYNAMIC_CONFIG, pause: true }, s2.configRevision)).toBe(true);
    expect((await b.readCluster()).view.paused).toBe(true);
  });

  test('sync: create-only when expected is null, CAS on the expected value, idempotent', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    const s1 = { leader: 'a', syncStandbys: ['b'] };
    const s2 = { leader: 'a', syncStandbys: ['b', 'c'] };
    expect(await a.writeSync(s1, null)).toBe(true);
    expect(await b.writeSync({ leader: 'b', syncStandbys: [] }, null)).toBe(false);
    expect(await a.writeSync(s2, { leader: 'a', syncStandbys: ['x'] })).toBe(false);
    expect((await a.readCluster()).view.sync).toEqual(s1);
    expect(await a.writeSync(s2, s1)).toBe(true);
    expect(await a.writeSync(s2, s1)).toBe(true); // already there
    expect((await b.readCluster()).view.sync).toEqual(s2);
    // Two writers from the same expected value: one wins.
    const [r1, r2] = await Promise.all([
      a.writeSync({ leader: 'a', syncStandbys: ['b'] }, s2),
      b.writeSync({ leader: 'a', syncStandbys: ['c'] }, s2),
    ]);
    expect([r1, r2].filter(Boolean)).toHaveLength(1);
    // A malformed value counts as absent.
    await raw.put(`${prefix(scope)}sync`).value('garbage');
    expect(await a.writeSync(s1, null)).toBe(true);
    expect((await a.readCluster()).view.sync).toEqual(s1);
  });

  test('history: appends, once per timeline, without losing concurrent rows', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    const b = dcs(scope, 'b');
    const row = (timeline: number, leader: string) => ({
      timeline, lsn: timeline * 1000, reason: 'no recovery target specified', timestamp: '2024-05-01T10:00:00Z', newLeader: leader,
    });
    await a.appendHistory(row(1, 'a'));
    await a.appendHistory(row(1, 'a')); // a retry: not added twice
    await Promise.all([a.appendHistory(row(2, 'a')), b.appendHistory(row(3, 'b'))]);
    const history = (await a.readCluster()).view.history;
    expect(history.map((h) => h.timeline).sort()).toEqual([1, 2, 3]);
    expect(history[0]).toEqual(row(1, 'a'));
    const stored = (await raw.get(`${prefix(scope)}history`).string())!;
    expect(JSON.parse(stored)[0]).toEqual([1, 1000, 'no recovery target specified', '2024-05-01T10:00:00Z', 'a']);
  });

  test('status and failover round-trip in the wire format', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    await a.renewLease();
    expect(await a.acquireLeader()).toBe(true);
    expect(await a.writeStatus({ optime: 0x16b374d848, timeline: 4 })).toBe(true);
    await a.setFailover({ leader: 'a', candidate: 'b', scheduledAt: '2030-01-01T00:00:00Z' });
    expect(JSON.parse((await raw.get(`${prefix(scope)}status`).string())!)).toEqual({ optime: 0x16b374d848, timeline: 4 });
    expect(JSON.parse((await raw.get(`${prefix(scope)}failover`).string())!)).toEqual({ leader: 'a', candidate: 'b', scheduled_at: '2030-01-01T00:00:00Z' });
    const view = (await a.readCluster()).view;
    expect(view.status).toEqual({ optime: 0x16b374d848, timeline: 4 });
    expect(view.failover).toEqual({ leader: 'a', candidate: 'b', scheduledAt: '2030-01-01T00:00:00Z' });
    await a.setFailover(null);
    expect((await a.readCluster()).view.failover).toBeNull();
  });

  test('member record round-trips in the wire format', async () => {
    const scope = freshScope();
    const a = dcs(scope, 'a');
    await a.renewLease();
    const m = member('a', { role: 'primary', walLsn: 123456, receivedLsn: null, replayedLsn: null, tags: { nofailover: true, failoverPriority: 0, noloadbalance: false, nosync: true } });
    await a.touchMember(m);
    expect((await a.readCluster()).view.members).toEqual([m]);
    const stored = JSON.parse((await raw.get(`${prefix(scope)}members/a`).string())!);
    expect(stored).toMatchObject({ api_url: m.apiUrl, conn_url: m.connUrl, xlog_location: 123456, tags: { nofailover: true, failover_priority: 0, nosync: true } });
    await expect(a.touchMember(member('b'))).rejects.toMatchObject({ kind: 'rejected' });
  });
});

describe('initialize', () => {
  const SYS = '7345123456789012345';

  test('claim, abandon, claim again, complete', async () => {
    const { a, b } = await leasedPair();
    const [ca, cb] = await Promise.all([a.claimInitialize(), b.claimInitialize()]);
    expect([ca, cb].filter(Boolean)).toHaveLength(1);
    const [winner, loser] = ca ? [a, b] : [b, a];
    expect((await a.readCluster()).view.initialize).toEqual({ state: 'bootstrapping' });

    expect(await winner.abandonInitialize()).toEqual({ state: 'absent' }); // our bootstrap failed
    expect((await a.readCluster()).view.initialize).toEqual({ state: 'absent' });
    expect(await loser.claimInitialize()).toBe(true);
    expect(await winner.claimInitialize()).toBe(false);

    await loser.completeInitialize(SYS);
    await loser.completeInitialize(SYS); // a retry is harmless
    expect((await a.readCluster()).view.initialize).toEqual({ state: 'done', systemId: SYS });

    expect(await winner.abandonInitialize()).toEqual({ state: 'done', systemId: SYS }); // no effect once done
    await expect(winner.completeInitialize('1111')).rejects.toMatchObject({ kind: 'rejected' });
    expect(await winner.claimInitialize()).toBe(false);
    expect((await b.readCluster()).view.initialize).toEqual({ state: 'done', systemId: SYS });
  });

  test('the claim is "" on the claimant\'s lease: the claimant recognises it, nobody else can use it', async () => {
    const { scope, a, b } = await leasedPair();
    expect(await a.claimInitialize()).toBe(true);
    const kv = (await raw.get(`${prefix(scope)}initialize`).exec()).kvs[0]!;
    expect(kv.value.toString()).toBe(''); // SPEC §2: "" while bootstrapping
    expect(kv.lease).toBe(a.leaseId);

    // A lost answer: claiming again finds our own claim and counts as won (no second write).
    expect(await a.claimInitialize()).toBe(true);
    expect((await raw.get(`${prefix(scope)}initialize`).exec()).kvs[0]!.mod_revision).toBe(kv.mod_revision);
    expect((await a.readCluster()).initializeIsOurs).toBe(true);
    expect((await b.readCluster()).initializeIsOurs).toBe(false);

    // Another member can neither take, complete nor abandon it.
    expect(await b.claimInitialize()).toBe(false);
    await expect(b.completeInitialize(SYS)).rejects.toMatchObject({ kind: 'rejected' });
    expect(await b.abandonInitialize()).toEqual({ state: 'bootstrapping' });
    expect((await a.readCluster()).view.initialize).toEqual({ state: 'bootstrapping' });
  });

  test('a claimant that dies takes its claim with it; a completed bootstrap stays', async () => {
    const { scope, a, b } = await leasedPair();
    expect(await a.claimInitialize()).toBe(true);
    await a.close({ revokeLease: true }); // or its lease expires: the same for etcd
    expect((await b.readCluster()).view.initialize).toEqual({ state: 'absent' });

    expect(await b.claimInitialize()).toBe(true);
    await b.completeInitialize(SYS);
    const kv = (await raw.get(`${prefix(scope)}initialize`).exec()).kvs[0]!;
    expect(kv.lease).toBe('0'); // detached from b's lease: initialized for good
    await b.close({ revokeLease: true });
    const c = dcs(scope, 'c');
    expect((await c.readCluster()).view.initialize).toEqual({ state: 'done', systemId: SYS });
  });

  test('an ownerless "" (older version, or written by hand) is bootstrapping but nobody\'s', async () => {
    const scope = freshScope();
    await raw.put(`${prefix(scope)}initialize`).value('');
    const a = dcs(scope, 'a');
    await a.renewLease();
    expect(await a.readCluster()).toMatchObject({ view: { initialize: { state: 'bootstrapping' } }, initializeIsOurs: false });
    expect(await a.claimInitialize()).toBe(false);
    expect(await a.abandonInitialize()).toEqual({ state: 'bootstrapping' });
  });

  test('a malformed value counts as initialized with an unknown system identifier, and is logged', async () => {
    const scope = freshScope();
    await raw.put(`${prefix(scope)}initialize`).value('not-a-system-id');
    const a = dcs(scope, 'a');
    await a.renewLease();
    expect((await a.readCluster()).view.initialize).toEqual({ state: 'malformed' });
    expect(await a.claimInitialize()).toBe(false); // never bootstrapped over
    expect(a.lines.filter((l) => l.level === WARN && l['key'] === `${prefix(scope)}initialize`)).toHaveLength(1);
  });
});

describe('password auth', () => {
  let secured: EtcdTestCluster;
  beforeAll(async () => {
    secured = await EtcdTestCluster.start(1);
    const admin = new Etcd3({ hosts: secured.endpoints });
    try {
      await admin.user('root').create('s3cret');
      await admin.user('root').addRole('root');
      await admin.auth.authEnable();
    } finally {
      admin.close();
    }
  });
  afterAll(async () => {
    await secured?.stop();
  });

  test('the right password works for every call; a wrong one is refused at once, not retried', async () => {
    const scope = freshScope();
    const good = makeDcs(secured.endpoints, { scope, name: 'a', auth: { username: 'root', password: 's3cret' } });
    open.push(good);
    await good.renewLease();
    expect(await good.acquireLeader()).toBe(true);
    const seen: string[] = [];
    await good.watch((k) => seen.push(k));
    await good.writeStatus({ optime: 1, timeline: 1 });
    expect((await good.readCluster()).view.leader).toBe('a');
    await waitFor(() => seen.includes('status'), { timeoutMs: 1000, intervalMs: 10, what: 'the watch to report status' });

    const bad = makeDcs(secured.endpoints, { scope, name: 'b', auth: { username: 'root', password: 'wrong' } });
    open.push(bad);
    const t0 = performance.now();
    await expect(bad.readCluster()).rejects.toMatchObject({ kind: 'rejected', message: expect.stringMatching(/authentication failed/) });
    expect(performance.now() - t0).toBeLessThan(500);
    const anon = makeDcs(secured.endpoints, { scope, name: 'c' });
    open.push(anon);
    await expect(anon.readCluster()).rejects.toMatchObject({ kind: 'rejected' });
  });
});

describe('TLS with client certificates', () => {
  let secured: EtcdTestCluster;
  beforeAll(async () => {
    // Needs openssl to make the certificates: fail, never skip (npm run deps installs it).
    if (!haveOpenssl) throw new Error('this test needs the openssl command (apt-get install openssl; npm run deps does)');
    secured = await EtcdTestCluster.start(1, { tls: true });
  });
  afterAll(async () => { await secured?.stop(); });

  test('with the CA and a client certificate every call works; without a certificate it is refused', async () => {
    const certs = secured.certs!;
    const scope = freshScope();
    const hostPort = secured.endpoints[0]!.replace('https://', ''); // the adapter adds https:// itself
    const good = makeDcs([hostPort], { scope, name: 'a', tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
    open.push(good);
    await good.renewLease();
    expect(await good.acquireLeader()).toBe(true);
    const seen: string[] = [];
    await good.watch((k) => seen.push(k));
    await good.writeStatus({ optime: 1, timeline: 1 });
    expect((await good.readCluster()).view.leader).toBe('a');
    await waitFor(() => seen.includes('status'), { timeoutMs: 1000, intervalMs: 10, what: 'the watch to report status' });

    const noCert = makeDcs([hostPort], { scope, name: 'b', tls: { ca: certs.ca }, retryTimeoutMs: 500 });
    open.push(noCert);
    await expect(noCert.readCluster()).rejects.toMatchObject({ name: 'DcsError' });
  });
});
