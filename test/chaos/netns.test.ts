// NetnsNetwork on its own: a partition drops packets silently (a connect from inside the node's
// namespace times out; it is never refused or reset), heal restores it, and destroy leaves nothing
// behind. Needs root, ip, iptables and tc: FAILS (never skips) when they are missing.
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsNetwork, requireNetTools } from '../../agent/local/netns.js';

/** Runs a TCP connect from inside the node's namespace; prints "ok" or the error code. */
function connectFrom(net: NetnsNetwork, node: string, host: string, port: number, timeoutMs = 1500): string {
  const script = `const s=require('net').connect({host:${JSON.stringify(host)},port:${port}});` +
    `const t=setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},${timeoutMs});` +
    `s.on('connect',()=>{console.log('ok');clearTimeout(t);s.destroy()});s.on('error',e=>{console.log(e.code);clearTimeout(t)})`;
  const r = spawnSync(net.execPrefix(node)[0]!, [...net.execPrefix(node).slice(1), process.execPath, '-e', script], { encoding: 'utf8', timeout: timeoutMs + 5000 });
  return r.stdout.trim() || `status ${String(r.status)} ${r.stderr}`;
}

describe('network namespaces for chaos', () => {
  let net: NetnsNetwork | null = null;
  let server: Server | null = null;
  let port = 0;

  beforeAll(async () => {
    requireNetTools(); // loud failure, not a skip
    net = NetnsNetwork.create(['node1', 'node2']);
    server = createServer((s) => s.destroy());
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(0, net!.etcdAddress, () => resolve());
    });
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    net?.destroy();
  });

  it('partitions drop silently, heal restores, rate limits apply, destroy cleans up', () => {
    const n = net!;
    expect(connectFrom(n, 'node1', n.etcdAddress, port)).toBe('ok');
    n.partition('node1', 'etcd');
    expect(n.rules('node1')).toContain('pgwarden-chaos-etcd');
    expect(connectFrom(n, 'node1', n.etcdAddress, port)).toBe('TIMEOUT');
    // Only node1 is cut off.
    expect(connectFrom(n, 'node2', n.etcdAddress, port)).toBe('ok');
    n.heal('node1');
    expect(connectFrom(n, 'node1', n.etcdAddress, port)).toBe('ok');

    // node ↔ node partition: the root namespace still reaches both.
    n.partition('node1', { node: 'node2' });
    const ping = (ns: string, to: string) => spawnSync(n.tools.ip, ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', to], { encoding: 'utf8' }).status;
    if (spawnSync('which', ['ping']).status === 0) {
      expect(ping(n.node('node2').ns, n.node('node1').address)).not.toBe(0);
      expect(ping(n.node('node2').ns, n.hostAddress)).toBe(0);
    }
    n.heal('node1');

    // (netem latency needs sch_netem, which some kernels lack: the latency scenario of the full
    // matrix exercises it; tbf is what the base-backup scenario uses.)
    n.rateLimit('node1', '16mbit');
    expect(spawnSync(n.tools.tc, ['qdisc', 'show', 'dev', n.node('node1').hostVeth], { encoding: 'utf8' }).stdout).toContain('tbf');
    n.clearRateLimit('node1');
    expect(connectFrom(n, 'node1', n.etcdAddress, port)).toBe('ok');

    expect(n.destroy()).toEqual([]);
    expect(n.leftovers()).toEqual([]);
  }, 60_000);
});
