// Network namespaces for a LocalCluster started with `netns: true` (the chaos suite): each node
// (agent + its PostgreSQL) runs in its own namespace with its own address, linked by a veth pair to
// a bridge in the root namespace. etcd and HAProxy stay in the root namespace but are reached
// through their own addresses on that bridge, so a node can be cut off from one of them with
// iptables rules inside the node's namespace (DROP: packets vanish, nothing is reset).
//
//   10.200.<k>.1   the bridge's primary address: the harness's own connections (probes, API calls)
//   10.200.<k>.2   HAProxy's source address for health checks and forwarded connections
//   10.200.<k>.3   etcd's client listeners (agents connect here)
//   10.200.<k>.(11+i)  node i (restapi and PostgreSQL listen here)
//
// Only addresses inside namespaces and on a bridge this module creates are used; every name carries
// a per-run tag, and `destroy()` (also called synchronously from exit handlers) removes the
// namespaces (with their veth ends and iptables rules) and the bridge. A state file under
// /run/pgwarden-netns lets a later run remove what a crashed run left behind (`reapStaleNetns`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isAlive } from './procfs.js';

export const NETNS_STATE_DIR = '/run/pgwarden-netns';
const TOOLS = { ip: ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'], iptables: ['/usr/sbin/iptables', '/sbin/iptables', '/usr/bin/iptables'], tc: ['/usr/sbin/tc', '/sbin/tc', '/usr/bin/tc'] } as const;

export interface NetTools {
  readonly ip: string;
  readonly iptables: string;
  readonly tc: string;
}

/** The paths of ip, iptables and tc; throws (never skips) when one is missing or we are not root. */
export function requireNetTools(): NetTools {
  const missing: string[] = [];
  const found: Partial<Record<keyof NetTools, string>> = {};
  for (const [tool, paths] of Object.entries(TOOLS) as [keyof NetTools, readonly string[]][]) {
    const p = paths.find((x) => existsSync(x));
    if (p) found[tool] = p;
    else missing.push(tool);
  }
  if (missing.length > 0) {
    throw new Error(`netns: ${missing.join(', ')} not found; install iproute2 (ip, tc) and iptables (apt-get install iproute2 iptables)`);
  }
  if (process.getuid?.() !== 0) throw new Error('netns: network namespaces need root (CAP_NET_ADMIN); run as root');
  return found as NetTools;
}

export interface CmdResult {
  readonly ok: boolean;
  readonly out: string;
}

function run(cmd: string, args: readonly string[], timeoutMs = 10_000): CmdResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

function must(cmd: string, args: readonly string[]): string {
  const r = run(cmd, args);
  if (!r.ok) throw new Error(`netns: \`${[cmd, ...args].join(' ')}\` failed: ${r.out}`);
  return r.out;
}

export interface NetnsNode {
  readonly name: string;
  /** Namespace name (ip netns). */
  readonly ns: string;
  readonly address: string;
  /** veth end in the root namespace (attached to the bridge). */
  readonly hostVeth: string;
}

interface StateFile {
  readonly tag: string;
  readonly ownerPid: number;
  readonly bridge: string;
  readonly namespaces: string[];
}

/** Which third octets of 10.200.0.0/16 are in use on this machine (any namespace we can see). */
function usedOctets(ip: string): Set<number> {
  const used = new Set<number>();
  const scan = (text: string) => {
    for (const m of text.matchAll(/10\.200\.(\d+)\./g)) used.add(Number(m[1]));
  };
  scan(run(ip, ['-4', 'addr']).out);
  for (const ns of listNetns(ip)) scan(run(ip, ['-n', ns, '-4', 'addr']).out);
  return used;
}

function listNetns(ip: string): string[] {
  return run(ip, ['netns', 'list']).out.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
}

/** Remove namespaces and bridges of runs whose owner process is gone. */
export function reapStaleNetns(tools: NetTools = requireNetTools()): string[] {
  const removed: string[] = [];
  if (!existsSync(NETNS_STATE_DIR)) return removed;
  for (const f of readdirSync(NETNS_STATE_DIR)) {
    const file = join(NETNS_STATE_DIR, f);
    let st: StateFile;
    try {
      st = JSON.parse(readFileSync(file, 'utf8')) as StateFile;
    } catch {
      continue;
    }
    if (isAlive(st.ownerPid) && st.ownerPid !== process.pid) continue;
    for (const ns of st.namespaces) if (run(tools.ip, ['netns', 'del', ns]).ok) removed.push(ns);
    if (run(tools.ip, ['link', 'del', st.bridge]).ok) removed.push(st.bridge);
    rmSync(file, { force: true });
  }
  return removed;
}

export type PartitionTarget = 'etcd' | 'haproxy' | { readonly node: string };

export interface RedirectRule {
  readonly direction: 'out' | 'in';
  readonly address: string;
  readonly port: number;
  readonly toPort: number;
}

export class NetnsNetwork {
  readonly tag: string;
  readonly subnet: string;
  readonly bridge: string;
  readonly hostAddress: string;
  readonly haproxyAddress: string;
  readonly etcdAddress: string;
  readonly nodes: readonly NetnsNode[];
  readonly tools: NetTools;
  #destroyed = false;
  #stateFile: string;

  private constructor(tools: NetTools, tag: string, octet: number, names: readonly string[]) {
    this.tools = tools;
    this.tag = tag;
    this.subnet = `10.200.${octet}.0/24`;
    this.bridge = `pgwb${tag}`;
    this.hostAddress = `10.200.${octet}.1`;
    this.haproxyAddress = `10.200.${octet}.2`;
    this.etcdAddress = `10.200.${octet}.3`;
    this.nodes = names.map((name, i) => ({ name, ns: `pgw${tag}-${name}`, address: `10.200.${octet}.${11 + i}`, hostVeth: `pgw${tag}h${i}` }));
    this.#stateFile = join(NETNS_STATE_DIR, `${tag}.json`);
  }

  /** Creates the bridge, one namespace per node and the veth pairs. Cleans up after itself on error. */
  static create(nodeNames: readonly string[]): NetnsNetwork {
    const tools = requireNetTools();
    reapStaleNetns(tools);
    const used = usedOctets(tools.ip);
    const free = Array.from({ length: 250 }, (_, i) => i + 1).filter((o) => !used.has(o));
    if (free.length === 0) throw new Error('netns: no free 10.200.<k>.0/24 subnet');
    const octet = free[Math.floor(Math.random() * free.length)]!;
    const net = new NetnsNetwork(tools, randomBytes(2).toString('hex'), octet, nodeNames);
    try {
      net.#build();
    } catch (err) {
      net.destroy();
      throw err;
    }
    return net;
  }

  #build(): void {
    const ip = this.tools.ip;
    mkdirSync(NETNS_STATE_DIR, { recursive: true, mode: 0o700 });
    const state: StateFile = { tag: this.tag, ownerPid: process.pid, bridge: this.bridge, namespaces: this.nodes.map((n) => n.ns) };
    writeFileSync(this.#stateFile, JSON.stringify(state));
    must(ip, ['link', 'add', this.bridge, 'type', 'bridge']);
    for (const a of [this.hostAddress, this.haproxyAddress, this.etcdAddress]) must(ip, ['addr', 'add', `${a}/24`, 'dev', this.bridge]);
    must(ip, ['link', 'set', this.bridge, 'up']);
    this.nodes.forEach((n, i) => {
      const peer = `pgw${this.tag}p${i}`;
      must(ip, ['netns', 'add', n.ns]);
      must(ip, ['link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', peer]);
      must(ip, ['link', 'set', peer, 'netns', n.ns]);
      must(ip, ['link', 'set', n.hostVeth, 'master', this.bridge, 'up']);
      must(ip, ['-n', n.ns, 'link', 'set', 'lo', 'up']);
      must(ip, ['-n', n.ns, 'link', 'set', peer, 'name', 'eth0']);
      must(ip, ['-n', n.ns, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0']);
      must(ip, ['-n', n.ns, 'link', 'set', 'eth0', 'up']);
    });
  }

  node(name: string): NetnsNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`netns: no node ${name}`);
    return n;
  }

  /** argv prefix that runs a command inside the node's namespace. */
  execPrefix(name: string): string[] {
    return [this.tools.ip, 'netns', 'exec', this.node(name).ns];
  }

  #iptables(name: string, args: readonly string[]): void {
    must(this.tools.ip, ['netns', 'exec', this.node(name).ns, this.tools.iptables, '-w', '5', ...args]);
  }

  /**
   * Drop every packet between `name` and the target, silently, in both directions (rules in the
   * node's namespace; tagged with a comment so `heal` removes exactly them).
   */
  partition(name: string, target: PartitionTarget): void {
    const addr = target === 'etcd' ? this.etcdAddress : target === 'haproxy' ? this.haproxyAddress : this.node(target.node).address;
    const label = typeof target === 'string' ? target : target.node;
    const comment = ['-m', 'comment', '--comment', `pgwarden-chaos-${label}`];
    this.#iptables(name, ['-I', 'INPUT', '-s', addr, ...comment, '-j', 'DROP']);
    this.#iptables(name, ['-I', 'OUTPUT', '-d', addr, ...comment, '-j', 'DROP']);
  }

  /** Remove every partition rule of the node (flushes its filter table). */
  heal(name: string): void {
    this.#iptables(name, ['-F', 'INPUT']);
    this.#iptables(name, ['-F', 'OUTPUT']);
  }

  /** The node's current iptables rules (for logs and tests). */
  rules(name: string): string {
    return must(this.tools.ip, ['netns', 'exec', this.node(name).ns, this.tools.iptables, '-w', '5', '-S']);
  }

  /**
   * iptables REDIRECT rules in the node's namespace (nat table): `out` sends the node's own
   * connections to address:port (except root's, i.e. a relay's own) to toPort on the node; `in`
   * sends connections arriving for address:port there. Used by LatencyRelays.
   */
  redirect(name: string, rules: readonly RedirectRule[]): void {
    for (const r of rules) {
      const match = ['-p', 'tcp', '-d', r.address, '--dport', String(r.port)];
      const target = ['-j', 'REDIRECT', '--to-ports', String(r.toPort)];
      if (r.direction === 'out') this.#iptables(name, ['-t', 'nat', '-A', 'OUTPUT', ...match, '-m', 'owner', '!', '--uid-owner', '0', ...target]);
      else this.#iptables(name, ['-t', 'nat', '-A', 'PREROUTING', ...match, ...target]);
    }
  }

  /** Token-bucket rate limit (tbf, e.g. "16mbit") on the node's link, both directions. */
  rateLimit(name: string, rate: string): void {
    this.#qdisc(this.node(name), ['tbf', 'rate', rate, 'burst', '32kbit', 'latency', '400ms'], 'tbf (sch_tbf) is not available in this kernel');
  }

  #qdisc(n: NetnsNode, spec: readonly string[], unknownHint: string): void {
    for (const [cmd, args] of [
      [this.tools.ip, ['netns', 'exec', n.ns, this.tools.tc, 'qdisc', 'replace', 'dev', 'eth0', 'root', ...spec]],
      [this.tools.tc, ['qdisc', 'replace', 'dev', n.hostVeth, 'root', ...spec]],
    ] as const) {
      const r = run(cmd, args);
      if (!r.ok) {
        this.clearRateLimit(n.name);
        throw new Error(`netns: \`${[cmd, ...args].join(' ')}\` failed: ${r.out}${/unknown/i.test(r.out) ? ` (${unknownHint})` : ''}`);
      }
    }
  }

  /** Removes the qdisc set by rateLimit. */
  clearRateLimit(name: string): void {
    const n = this.node(name);
    run(this.tools.ip, ['netns', 'exec', n.ns, this.tools.tc, 'qdisc', 'del', 'dev', 'eth0', 'root']);
    run(this.tools.tc, ['qdisc', 'del', 'dev', n.hostVeth, 'root']);
  }

  /** Synchronous, idempotent: safe from exit handlers. Returns what it could not remove. */
  destroy(): string[] {
    if (this.#destroyed) return [];
    this.#destroyed = true;
    const left: string[] = [];
    const ip = this.tools.ip;
    for (const n of this.nodes) {
      if (listNetns(ip).includes(n.ns) && !run(ip, ['netns', 'del', n.ns]).ok) left.push(n.ns);
      // Deleting the namespace deletes its veth end and so the pair; make sure.
      if (run(ip, ['link', 'show', n.hostVeth]).ok && !run(ip, ['link', 'del', n.hostVeth]).ok) left.push(n.hostVeth);
    }
    if (run(ip, ['link', 'show', this.bridge]).ok && !run(ip, ['link', 'del', this.bridge]).ok) left.push(this.bridge);
    if (left.length === 0) rmSync(this.#stateFile, { force: true });
    return left;
  }

  /** Anything of this network still present (namespaces, links): empty after destroy(). */
  leftovers(): string[] {
    const ip = this.tools.ip;
    const out = listNetns(ip).filter((ns) => this.nodes.some((n) => n.ns === ns));
    for (const l of [this.bridge, ...this.nodes.map((n) => n.hostVeth)]) if (run(ip, ['link', 'show', l]).ok) out.push(l);
    return out;
  }
}
