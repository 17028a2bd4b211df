// HaproxyWatch over a fake member source: bursts of member events make one pass; the file only
// changes with membership; an unreadable etcd or an empty member list keeps the last good file;
// a failed reload is retried even though the text did not change.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MemberRecord } from '../../../agent/core/types.js';
import { createLogger } from '../../../agent/log.js';
import { renderHaproxyConfig } from '../../../proxy-config/render.js';
import { HaproxyWatch, type MemberSource, type WatchEvent } from '../../../proxy-config/watch.js';
import { waitFor } from '../../../agent/local/wait.js';
import { member } from '../api/builders.js';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-proxy-watch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const watches: HaproxyWatch[] = [];
afterEach(async () => { await Promise.all(watches.splice(0).map((w) => w.stop())); });

class FakeSource implements MemberSource {
  readonly where = 'fake';
  members: MemberRecord[] = [member('node1'), member('node2')];
  down = false;
  reads = 0;
  #listener: ((key: string) => void) | null = null;
  async read() {
    this.reads++;
    if (this.down) throw new Error('etcd unreachable');
    return this.members;
  }
  async watch(onChange: (key: string) => void) {
    this.#listener = onChange;
    return async () => { this.#listener = null; };
  }
  emit(key: string) { this.#listener?.(key); }
}

async function start(source: FakeSource, out: string, reloadCmd = 'true') {
  const events: WatchEvent[] = [];
  const w = await HaproxyWatch.start({
    source, out, validate: false, reload: { kind: 'command', command: reloadCmd },
    render: (members) => renderHaproxyConfig({ scope: 'demo', members, listen: { rw: 5000, ro: 5001 } }),
    debounceMs: 50, resyncMs: 60_000, retryMs: 100,
    logger: createLogger({ level: 'silent', format: 'json' }),
    onEvent: (e) => events.push(e),
  });
  watches.push(w);
  return { w, events };
}

const types = (events: WatchEvent[]) => events.map((e) => (e.type === 'error' ? `error:${e.stage}` : e.type));

describe('HaproxyWatch', () => {
  it('writes at start, coalesces a burst of member events, rewrites only on a membership change', async () => {
    const source = new FakeSource();
    const out = join(dir, 'a.cfg');
    const { w, events } = await start(source, out);
    expect(types(events)).toEqual(['written', 'reloaded']);
    expect(readFileSync(out, 'utf8')).toContain('server node2');

    // Agents rewrite their keys every loop: ten events, one pass, nothing to do.
    for (let i = 0; i < 10; i++) source.emit('members/node1');
    source.emit('leader');
    await waitFor(async () => w.passes, { what: 'a second pass', timeoutMs: 2000, intervalMs: 10, until: (n) => n >= 2 });
    expect(source.reads).toBe(2);
    expect(types(events)).toEqual(['written', 'reloaded', 'unchanged']);

    source.members = [...source.members, member('node3')];
    source.emit('members/node3');
    await waitFor(async () => events.length, { what: 'node3 written', timeoutMs: 2000, intervalMs: 10, until: (n) => n >= 5 });
    expect(types(events).slice(3)).toEqual(['written', 'reloaded']);
    expect(readFileSync(out, 'utf8')).toContain('server node3');
  });

  it('keeps the last good file while etcd is unreachable or no member is registered', async () => {
    const source = new FakeSource();
    const out = join(dir, 'b.cfg');
    const { events } = await start(source, out);
    const good = readFileSync(out, 'utf8');

    source.down = true;
    source.emit('members/node2');
    await waitFor(async () => events.length, { what: 'an etcd error', timeoutMs: 2000, intervalMs: 10, until: (n) => n >= 3 });
    expect(events[2]).toMatchObject({ type: 'error', stage: 'etcd', message: expect.stringContaining('etcd unreachable') });
    expect(readFileSync(out, 'utf8')).toBe(good);

    source.down = false;
    source.members = [];
    // The retry after the failure finds no member: still the last good file.
    await waitFor(async () => events.length, { what: 'the retry', timeoutMs: 3000, intervalMs: 10, until: (n) => n >= 4 });
    expect(events[3]).toMatchObject({ type: 'error', stage: 'empty' });
    expect(readFileSync(out, 'utf8')).toBe(good);
  });

  it('retries a failed reload on the next pass although the text is unchanged', async () => {
    const source = new FakeSource();
    const out = join(dir, 'c.cfg');
    const flag = join(dir, 'reload-ok');
    const { w, events } = await start(source, out, `test -e ${flag}`);
    expect(types(events)).toEqual(['written', 'error:reload']);
    writeFileSync(flag, '');
    await waitFor(async () => w.passes, { what: 'the retry', timeoutMs: 3000, intervalMs: 10, until: (n) => n >= 2 });
    expect(types(events)).toEqual(['written', 'error:reload', 'unchanged', 'reloaded']);
  });
});
