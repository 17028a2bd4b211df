// Peers' REST API over the simulated network: GET <api_url>/status answered by the peer's own
// status document (the real buildStatusDoc of its snapshot) if its process runs, later if it is
// frozen, never if it is dead — and the caller's timeout decides.
import type { Host, Network } from '../network.js';
import type { Proc } from '../proc.js';

export interface StatusPeer {
  readonly proc: Proc;
  readonly host: Host;
  statusDocument(): unknown;
}

export function simPeerStatusFetcher(o: {
  readonly proc: Proc; readonly host: Host; readonly net: Network; readonly peer: (name: string) => StatusPeer | undefined;
}): (apiUrl: string, timeoutMs: number) => Promise<unknown> {
  return (apiUrl, timeoutMs) => new Promise((resolve, reject) => {
    const peer = o.peer(new URL(apiUrl).hostname);
    let settled = false;
    const settle = o.proc.gate((doc: unknown) => {
      if (settled) return;
      settled = true;
      if (doc === undefined) reject(new Error(`GET ${apiUrl}status: timed out`));
      else resolve(doc);
    });
    o.proc.timer(timeoutMs, () => settle(undefined));
    if (!peer) return;
    o.net.send(o.host, peer.host, () => {
      peer.proc.gate(() => {
        const doc = peer.statusDocument();
        if (doc !== null) o.net.send(peer.host, o.host, () => settle(doc));
      })();
    });
  });
}
