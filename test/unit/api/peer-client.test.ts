import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchPeerStatus, toPeerStatus } from '../../../agent/api/peer-client.js';
import { buildApi, startApi } from '../../../agent/api/server.js';
import { buildStatusDoc } from '../../../agent/api/status-doc.js';
import { NodeStateStore } from '../../../agent/runtime/node-state.js';
import { systemClock } from '../../../agent/clock.js';
import { createLogger } from '../../../agent/log.js';
import { NO_TAGS } from '../../../agent/core/types.js';
import { OPTIME, primaryState, replicaState, withPgStopped, withTags } from './builders.js';

describe('toPeerStatus', () => {
  it('reads a primary document: walLsn is xlog.location', () => {
    const doc = JSON.parse(JSON.stringify(buildStatusDoc(withTags(primaryState(), { nofailover: true, failoverPriority: 0 }))));
    expect(toPeerStatus('node-a', doc)).toEqual({
      name: 'node-a', reachable: true, role: 'primary', running: true, timeline: 2, walLsn: OPTIME + 4096, replayedLsn: null,
      tags: { nofailover: true, failoverPriority: 0, noloadbalance: false, nosync: false },
    });
  });

  it('reads a replica document: walLsn is max(received, replayed)', () => {
    const doc = JSON.parse(JSON.stringify(buildStatusDoc(replicaState({ lag: 1000 }))));
    expect(toPeerStatus('node-b', doc)).toMatchObject({ role: 'replica', running: true, walLsn: OPTIME - 900, tags: NO_TAGS });
    expect(toPeerStatus('node-b', { role: 'replica', state: 'running', xlog: { received_location: 10, replayed_location: 20 } }).walLsn).toBe(20);
    expect(toPeerStatus('node-b', { role: 'replica', state: 'running', xlog: { received_location: 10, replayed_location: 20 } }).replayedLsn).toBe(20);
  });

  it('a stopped peer: not running, no position', () => {
    const doc = JSON.parse(JSON.stringify(buildStatusDoc(withPgStopped(replicaState()))));
    expect(toPeerStatus('node-b', doc)).toMatchObject({ role: 'replica', running: false, walLsn: null, timeline: 2 });
  });

  it('accepts Patroni spellings: role master, pg_lsn text, missing tags', () => {
    expect(toPeerStatus('p', { role: 'master', state: 'running', timeline: 3, xlog: { location: '0/3000000' } }))
      .toEqual({ name: 'p', reachable: true, role: 'primary', running: true, timeline: 3, walLsn: 0x3000000, replayedLsn: null, tags: null });
  });

  it('partial tags fall back to defaults field by field', () => {
    expect(toPeerStatus('p', { role: 'replica', tags: { nofailover: 'true' } }).tags).toEqual({ ...NO_TAGS, nofailover: true });
  });

  it.each([
    ['null', null], ['a string', 'hello'], ['an array', [1, 2]], ['no role', { state: 'running' }],
    ['an unknown role', { role: 'boss', state: 'running', xlog: { location: 5 } }], ['an error body', { error: { code: 'NOT_FOUND' } }],
  ])('malformed (%s): reachable, role null', (_label, doc) => {
    expect(toPeerStatus('x', doc)).toEqual({ name: 'x', reachable: true, role: null, running: false, timeline: null, walLsn: null, replayedLsn: null, tags: null });
  });

  it('ignores ill-typed fields of an otherwise good document', () => {
    expect(toPeerStatus('x', { role: 'primary', state: 'running', timeline: '2', xlog: { location: -5 } }))
      .toMatchObject({ role: 'primary', timeline: null, walLsn: null });
  });
});

describe('fetchPeerStatus', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => { await Promise.all(closers.splice(0).map((c) => c())); });

  async function rawServer(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const server: Server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('GETs <api_url>/status from a real agent API', async () => {
    const app = buildApi({ store: new NodeStateStore(primaryState()), clock: systemClock, logger: createLogger({ level: 'silent', format: 'json' }) });
    closers.push(() => app.close());
    const address = await startApi(app, '127.0.0.1:0');
    const doc = await fetchPeerStatus(`${address}/`, 2000);
    expect(toPeerStatus('node-a', doc)).toMatchObject({ role: 'primary', walLsn: OPTIME + 4096 });
  });

  it('rejects a body that is not JSON', async () => {
    const url = await rawServer((_req, res) => { res.end('<html>nope</html>'); });
    await expect(fetchPeerStatus(url, 2000)).rejects.toThrow(/not a JSON document/);
  });

  it('rejects when the peer does not answer in time', async () => {
    const url = await rawServer(() => { /* never answers */ });
    const started = Date.now();
    await expect(fetchPeerStatus(url, 100)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('rejects when nothing listens', async () => {
    const url = await rawServer((_req, res) => { res.end('{}'); });
    await closers.pop()!();
    await expect(fetchPeerStatus(url, 1000)).rejects.toThrow();
  });

  it('resolves a JSON body whatever the status code (the peer is alive)', async () => {
    const url = await rawServer((req, res) => {
      res.statusCode = req.url === '/status' ? 503 : 500;
      res.setHeader('content-type', 'application/json');
      res.end('{"role":"replica","state":"starting"}');
    });
    expect(await fetchPeerStatus(url, 2000)).toEqual({ role: 'replica', state: 'starting' });
  });
});
