// SPEC §2: an agent whose name is already held by a live member key refuses to start. A key
// left by our own previous run (killed within ttl) is not live: its API does not answer and the
// key expires with the old lease, so we wait up to ttl for it to go.
import type { Clock } from '../clock.js';
import { sleep } from '../clock.js';
import type { Logger } from '../log.js';
import type { Dcs, PeerStatusFetcher } from '../ports/ports.js';
import { FatalAgentError } from './errors.js';

export async function ensureNameFree(opts: {
  name: string; ownApiUrl: string; dcs: Pick<Dcs, 'readCluster'>; fetchPeer: PeerStatusFetcher;
  clock: Clock; logger: Logger; ttlMs: number;
}): Promise<void> {
  const deadline = opts.clock.now() + opts.ttlMs + 1000;
  let waited = false;
  for (;;) {
    const snap = await opts.dcs.readCluster();
    const mine = snap.view.members.find((m) => m.name === opts.name);
    if (!mine) return;
    const doc = await opts.fetchPeer(mine.apiUrl, 1000).catch(() => null) as { name?: unknown; patroni?: { name?: unknown } } | null;
    if (doc && (doc.name === opts.name || doc.patroni?.name === opts.name)) {
      throw new FatalAgentError(
        `member name "${opts.name}" is already in use by a live agent (its API at ${mine.apiUrl} answers); ` +
        'give this node another `name` in its config');
    }
    if (opts.clock.now() >= deadline) {
      throw new FatalAgentError(
        `member key for "${opts.name}" is still held after ${opts.ttlMs + 1000} ms although its API at ${mine.apiUrl} does not answer; ` +
        'another agent may be using this name');
    }
    if (!waited) {
      opts.logger.info({ api_url: mine.apiUrl }, 'a member key with my name exists but its agent does not answer; waiting for it to expire');
      waited = true;
    }
    await sleep(opts.clock, 250);
  }
}
