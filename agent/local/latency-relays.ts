// Latency on a node's links without tc netem: one delay relay (delay-relay.ts) per node, in the
// node's namespace, and iptables REDIRECT rules there that pass every connection of the node
// through it: what the node opens (etcd, the other nodes' PostgreSQL and APIs) and what it
// accepts (its PostgreSQL, its API). The relays start at zero delay with the cluster, before the
// agents, so no connection bypasses them; `setDelay` then changes a node's latency in place.
//
// The relays run as root and the agents and PostgreSQL as their own user: the OUTPUT rules skip
// root's connections, so a relay's own upstream connection is not redirected back into itself.
// iptables filter rules (partitions) still apply: they match addresses, which REDIRECT keeps.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetnsNetwork } from './netns.js';
import type { RelayDelay, RelayListener, RelayRoute } from './delay-relay.js';
import type { ProcessSupervisor, TrackedProcess } from './supervisor.js';
import { signalQuietly } from './procfs.js';
import { waitFor } from './wait.js';

export interface RelayedNode {
  readonly name: string;
  readonly dir: string;
  readonly pgHost: string;
  readonly pgPort: number;
  readonly apiHost: string;
  readonly apiPort: number;
}

export interface RelayEndpoint {
  readonly label: string;
  readonly host: string;
  readonly port: number;
}

interface NodeRelay {
  readonly proc: TrackedProcess;
  readonly delayFile: string;
}

/** What a node's relay carries: `out` routes for what it connects to, `in` for what it serves. */
export function relayRoutes(node: RelayedNode, peers: readonly RelayedNode[], etcd: readonly RelayEndpoint[]): { route: RelayRoute; direction: 'out' | 'in' }[] {
  const out = (label: string, host: string, port: number) => ({ route: { label, target: { host, port } }, direction: 'out' as const });
  const inbound = (label: string, host: string, port: number) => ({ route: { label, target: { host, port } }, direction: 'in' as const });
  return [
    ...etcd.map((e) => out(e.label, e.host, e.port)),
    ...peers.filter((p) => p.name !== node.name).flatMap((p) => [out(`${p.name} pg`, p.pgHost, p.pgPort), out(`${p.name} api`, p.apiHost, p.apiPort)]),
    inbound('in pg', node.pgHost, node.pgPort),
    inbound('in api', node.apiHost, node.apiPort),
  ];
}

export class LatencyRelays {
  readonly #relays = new Map<string, NodeRelay>();

  private constructor(readonly net: NetnsNetwork) {}

  /** Starts one relay per node and installs its REDIRECT rules; bounded by `timeoutMs`. */
  static async start(opts: {
    net: NetnsNetwork;
    supervisor: ProcessSupervisor;
    nodes: readonly RelayedNode[];
    etcd: readonly RelayEndpoint[];
    /** dist/agent/local/delay-relay-main.js */
    relayMain: string;
    /** setpriv (for --pdeathsig), or null. */
    setpriv: string | null;
    timeoutMs?: number;
  }): Promise<LatencyRelays> {
    const relays = new LatencyRelays(opts.net);
    for (const node of opts.nodes) {
      const routes = relayRoutes(node, opts.nodes, opts.etcd);
      const config = { routes: routes.map((r) => r.route), portsFile: join(node.dir, 'relay.ports.json'), delayFile: join(node.dir, 'relay.delay.json') };
      const configFile = join(node.dir, 'relay.json');
      writeFileSync(configFile, JSON.stringify(config));
      writeFileSync(config.delayFile, JSON.stringify({ delayMs: 0, jitterMs: 0 }));
      const [ip, ...prefix] = opts.net.execPrefix(node.name);
      const death = opts.setpriv ? [opts.setpriv, '--pdeathsig', 'KILL', '--'] : [];
      const proc = opts.supervisor.spawn({
        name: `relay ${node.name}`,
        command: ip!,
        args: [...prefix, ...death, process.execPath, opts.relayMain, configFile],
        logFile: join(node.dir, 'relay.log'),
      });
      relays.#relays.set(node.name, { proc, delayFile: config.delayFile });
      const listeners = (await waitFor(
        () => (existsSync(config.portsFile) ? (JSON.parse(readFileSync(config.portsFile, 'utf8')) as RelayListener[]) : null),
        {
          timeoutMs: opts.timeoutMs ?? 15_000, intervalMs: 50, what: `the delay relay of ${node.name} to listen`,
          failIf: () => (proc.running ? null : `relay ${node.name} ${proc.describeExit()}`),
        },
      ))!;
      const portOf = (label: string): number => {
        const l = listeners.find((x) => x.label === label);
        if (!l) throw new Error(`relay ${node.name}: no listener for ${label}`);
        return l.port;
      };
      opts.net.redirect(node.name, routes.map(({ route, direction }) => ({
        direction, address: route.target.host, port: route.target.port, toPort: portOf(route.label),
      })));
    }
    return relays;
  }

  /** Sets the latency of every connection of `node` (both directions), in place. */
  setDelay(node: string, d: RelayDelay): void {
    const r = this.#relays.get(node);
    if (!r) throw new Error(`latency relays: no relay for ${node}`);
    if (!r.proc.running) throw new Error(`latency relays: the relay of ${node} ${r.proc.describeExit()}`);
    writeFileSync(r.delayFile, JSON.stringify(d));
    if (!signalQuietly(r.proc.pid, 'SIGHUP')) throw new Error(`latency relays: could not signal the relay of ${node}`);
  }
}
