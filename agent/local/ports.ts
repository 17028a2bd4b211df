// Free TCP ports for the processes of a local cluster.
//
// Each port is proven free by listening on it, and every port of a batch is held until the whole
// batch is chosen, so a batch never repeats a port. Ports are drawn at random from BELOW the
// kernel's ephemeral range (ip_local_port_range): the kernel hands ports from that range to
// outgoing connections (HAProxy checks, etcd clients…), and one of those could grab a port we
// released before its server binds it, or before a restarted agent re-binds it. Ports issued by
// this process are never issued again by it, so two clusters in one process never collide.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

const issued = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 2000 ? n : 32768;
  } catch {
    return 32768;
  }
}

function listenOn(host: string, port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ host, port, exclusive: true }, () => resolve(srv));
  });
}

function close(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

export interface PortOptions {
  host?: string;
  /** Lowest port to consider (default 10000). */
  min?: number;
  /** Highest port to consider (default: just below the ephemeral range). */
  max?: number;
}

/** `count` distinct free ports on `host` (default 127.0.0.1). */
export async function allocatePorts(count: number, opts: PortOptions = {}): Promise<number[]> {
  const host = opts.host ?? '127.0.0.1';
  const min = opts.min ?? 10000;
  const max = Math.max(min + count * 4, opts.max ?? ephemeralLow() - 1);
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    let attempts = 0;
    while (ports.length < count) {
      if (++attempts > count * 200) {
        // The range is crowded: let the kernel choose (may be ephemeral, still held and distinct).
        const srv = await listenOn(host, 0);
        if (!srv) throw new Error(`allocatePorts: cannot listen on ${host}`);
        const addr = srv.address();
        const port = typeof addr === 'object' && addr ? addr.port : 0;
        held.push(srv);
        if (port > 0 && !issued.has(port)) ports.push(port);
        continue;
      }
      const port = min + Math.floor(Math.random() * (max - min + 1));
      if (issued.has(port) || ports.includes(port)) continue;
      const srv = await listenOn(host, port);
      if (!srv) continue;
      held.push(srv);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map(close));
  }
  for (const p of ports) issued.add(p);
  return ports;
}
