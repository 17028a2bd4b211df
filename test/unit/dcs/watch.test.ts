// PrefixWatch against a scripted watch client: resume revisions, compaction, silent streams.
import { describe, expect, test } from 'vitest';
import { EventEmitter } from 'node:events';
import type { IWatchRequest, IWatchResponse, WatchClient } from 'etcd3';
import { ClusterKeys } from '../../../agent/dcs/keys.js';
import { PrefixWatch, RESYNC_KEY } from '../../../agent/dcs/watch.js';
import { sleep, systemClock } from '../../../agent/clock.js';
import { captureLogger } from '../../harness/capture-log.js';

const keys = new ClusterKeys('/pgwarden', 'demo');

class FakeStream extends EventEmitter {
  readonly requests: IWatchRequest[] = [];
  ended = false;
  canceled = false;
  writable = true;
  write(r: IWatchRequest): void {
    this.requests.push(r);
  }
  end(): void {
    this.ended = true;
    this.writable = false;
  }
  cancel(): void {
    this.canceled = true;
  }
  send(r: Partial<IWatchResponse>): void {
    this.emit('data', {
      header: { revision: '0', cluster_id: '', member_id: '', raft_term: '' }, watch_id: '0', created: false,
      canceled: false, compact_revision: '0', cancel_reason: '', fragment: false, events: [], ...r,
    });
  }
}

function fakeClient() {
  const streams: FakeStream[] = [];
  const client = {
    async watch() {
      const s = new FakeStream();
      streams.push(s);
      return s;
    },
  };
  return { client: client as unknown as WatchClient, streams };
}

const put = (key: string, rev: number) => ({ type: 'Put' as const, kv: { key: keys.key(key), mod_revision: String(rev) } });
const header = (rev: number) => ({ revision: String(rev), cluster_id: '', member_id: '', raft_term: '' });

async function started(answerTimeoutMs = 1000) {
  const { client, streams } = fakeClient();
  const { logger, lines } = captureLogger();
  const seen: string[] = [];
  const w = new PrefixWatch(client, keys, (k) => seen.push(k), { log: logger, clock: systemClock, answerTimeoutMs });
  const starting = w.start(1000);
  await sleep(systemClock, 0);
  streams[0]!.send({ created: true, header: header(10) });
  expect(await starting).toBe(true);
  return { w, streams, seen, lines };
}

describe('PrefixWatch', () => {
  test('watches the whole prefix and reports keys relative to it', async () => {
    const { w, streams, seen } = await started();
    expect(streams[0]!.requests[0]).toEqual({ create_request: { key: keys.prefixBuf, range_end: keys.rangeEnd } });
    streams[0]!.send({ events: [put('leader', 11), put('members/a', 12)] as never });
    expect(seen).toEqual(['leader', 'members/a']);
    await w.cancel();
    expect(streams[0]!.ended && streams[0]!.canceled).toBe(true);
  });

  test('a broken stream is re-created from the revision after the last event seen', async () => {
    const { w, streams, seen } = await started();
    streams[0]!.send({ events: [put('status', 15)] as never });
    streams[0]!.emit('error', new Error('14 UNAVAILABLE'));
    await sleep(systemClock, 150); // first retry after 100 ms
    expect(streams).toHaveLength(2);
    expect(streams[1]!.requests[0]!.create_request?.start_revision).toBe(16);
    streams[1]!.send({ created: true, header: header(20) });
    streams[1]!.send({ events: [put('leader', 18)] as never }); // replayed from 16
    expect(seen).toEqual(['status', 'leader']);
    await w.cancel();
  });

  test('without events, it resumes right after the revision it was created at', async () => {
    const { w, streams } = await started();
    streams[0]!.emit('end');
    await sleep(systemClock, 150);
    expect(streams[1]!.requests[0]!.create_request?.start_revision).toBe(11);
    await w.cancel();
  });

  test('history compacted away: resume from the compaction point and ask for a full re-read', async () => {
    const { w, streams, seen } = await started();
    streams[0]!.emit('error', new Error('gone'));
    await sleep(systemClock, 150);
    streams[1]!.send({ created: true, canceled: true, compact_revision: '40', header: header(50) });
    expect(seen).toEqual([RESYNC_KEY]);
    await sleep(systemClock, 20);
    expect(streams).toHaveLength(3);
    expect(streams[2]!.requests[0]!.create_request?.start_revision).toBe(40);
    await w.cancel();
  });

  test('a silent stream is probed, and replaced when the probe is not answered', async () => {
    const { w, streams, lines } = await started(300);
    await sleep(systemClock, 1100);
    expect(streams[0]!.requests.slice(1)).toEqual([{ progress_request: {} }]);
    streams[0]!.send({ header: header(10) }); // answered: still the same stream
    await sleep(systemClock, 200);
    expect(streams).toHaveLength(1);
    await sleep(systemClock, 1700); // asked again, no answer this time
    expect(streams.length).toBeGreaterThanOrEqual(2);
    expect(streams[0]!.canceled).toBe(true);
    expect(streams[0]!.ended).toBe(false); // counted as a host failure by etcd3
    expect(lines.some((l) => /did not answer/.test(String(l['err'])))).toBe(true);
    await w.cancel();
  });

  test('a listener that throws does not break the watch', async () => {
    const { client, streams } = fakeClient();
    const { logger, lines } = captureLogger();
    const w = new PrefixWatch(client, keys, () => { throw new Error('boom'); }, { log: logger, clock: systemClock, answerTimeoutMs: 1000 });
    const starting = w.start(1000);
    await sleep(systemClock, 0);
    streams[0]!.send({ created: true, header: header(1) });
    await starting;
    streams[0]!.send({ events: [put('leader', 2), put('status', 3)] as never });
    expect(lines.filter((l) => l.msg === 'watch listener threw')).toHaveLength(2);
    expect(streams).toHaveLength(1);
    await w.cancel();
  });
});
