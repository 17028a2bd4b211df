// The fault schedule, drawn from the seed: what goes wrong, to whom, when and for how long. A
// fault is data (so a failing run can print the schedule and a scenario can script one by hand);
// the world applies it and schedules its own repair. The liveness phase repairs everything at once.
import type { Rng } from './rng.js';

export type Fault =
  /** The machine dies (agent and PostgreSQL) and boots again after downMs. */
  | { readonly kind: 'kill-node'; readonly node: string; readonly downMs: number }
  /** kill -9 of the postmaster; the agent notices and acts. */
  | { readonly kind: 'kill-pg'; readonly node: string }
  /** SIGSTOP of the agent for ms (PostgreSQL keeps running: no watchdog is modelled). */
  | { readonly kind: 'freeze-agent'; readonly node: string; readonly ms: number }
  /** The node cannot reach etcd (and etcd cannot reach it). */
  | { readonly kind: 'partition-etcd'; readonly node: string; readonly ms: number }
  /** The node cannot reach any other node (etcd and clients still can). */
  | { readonly kind: 'partition-peers'; readonly node: string; readonly ms: number }
  /** Two nodes cannot reach each other. */
  | { readonly kind: 'partition-pair'; readonly a: string; readonly b: string; readonly ms: number }
  /** etcd loses quorum: no request is answered, no lease expires. */
  | { readonly kind: 'etcd-outage'; readonly ms: number }
  /** WAL replay stops on a replica (it keeps receiving). */
  | { readonly kind: 'replay-pause'; readonly node: string; readonly ms: number }
  /** Extra latency on one link (node↔node or node↔etcd). */
  | { readonly kind: 'slow-link'; readonly a: string; readonly b: string; readonly extraMs: number; readonly ms: number }
  /** An operator changes the timings in etcd `config` (`ctl edit-config`): the agents follow. */
  | { readonly kind: 'set-timings'; readonly ttlMs: number; readonly loopWaitMs: number; readonly retryTimeoutMs: number }
  /** An operator asks for a planned switchover (the `failover` key), to a candidate or to the best. */
  | { readonly kind: 'switchover'; readonly candidate: string | null }
  /** SIGTERM of the agent (systemctl stop): it stops cleanly and starts again after downMs. */
  | { readonly kind: 'sigterm'; readonly node: string; readonly downMs: number }
  /**
   * Someone writes the `leader` key by hand, on no lease: a replica's name, a malformed value, or a
   * name that is no member. Nobody may promote on it; it is deleted after a grace.
   */
  | { readonly kind: 'stray-leader'; readonly value: 'replica' | 'malformed' | 'ghost' }
  /** etcd loses its data (every member rebuilt empty) while the nodes keep theirs. */
  | { readonly kind: 'etcd-wipe' }
  /** A planned stop of the whole cluster (systemctl stop everywhere), in a random order, then a start. */
  | { readonly kind: 'stop-all'; readonly gapMs: number; readonly downMs: number };

/** ttl / loop_wait / retry_timeout (ms) a cluster is set up with or changed to (all keep the timing rule). */
export const TIMINGS: ReadonlyArray<readonly [number, number, number]> = [
  [3000, 1000, 1000], [3000, 1000, 1000], [3000, 1000, 1000], [4000, 1000, 1500], [5000, 1000, 2000], [10_000, 2000, 4000],
];

export interface ScheduledFault {
  readonly at: number;
  readonly fault: Fault;
}

/**
 * In scripted faults a node may be named by its role when the fault strikes: '@primary' (the
 * leader key holder running a primary), '@replica' / '@replica2' (running replicas, by name),
 * '@promoting' / '@requesting' / '@deciding' / '@stopped' (the node that fired the trigger, see FaultTrigger),
 * '@last-primary' (the node promoted last), '@bystander'
 * (the first running replica that is not promoting and may be promoted).
 */
export type NodeRef = string;

/** A scripted fault applied when something happens rather than at a fixed time. */
export interface FaultTrigger {
  /**
   * 'promote-start': a node other than the last primary starts promoting ('@promoting');
   * 'request-sent': an agent has just sent the etcd operation named `op` ('@requesting'); the
   * request is on its way, so a fault now delays or loses only what follows (the answer);
   * 'decided': decide() just chose `rule` for an agent ('@deciding'), before it acts;
   * 'primary-stopped': a primary's PostgreSQL has just shut down cleanly ('@stopped').
   */
  readonly on: 'promote-start' | 'request-sent' | 'decided' | 'primary-stopped';
  /** For 'request-sent': the operation, as the agent names it ('acquire leader', 'claim initialize'…). */
  readonly op?: string;
  /** For 'decided': the rule decide() chose ('leaderless.race'…); the node is '@deciding'. */
  readonly rule?: string;
  /** Only after this simulated time. */
  readonly after: number;
  readonly fault: Fault;
}

export function describeFault(f: Fault): string {
  switch (f.kind) {
    case 'kill-node': return `kill node ${f.node} (back after ${f.downMs} ms)`;
    case 'kill-pg': return `kill -9 PostgreSQL on ${f.node}`;
    case 'freeze-agent': return `SIGSTOP agent ${f.node} for ${f.ms} ms`;
    case 'partition-etcd': return `partition ${f.node} from etcd for ${f.ms} ms`;
    case 'partition-peers': return `partition ${f.node} from the other nodes for ${f.ms} ms`;
    case 'partition-pair': return `partition ${f.a}↔${f.b} for ${f.ms} ms`;
    case 'etcd-outage': return `etcd unavailable for ${f.ms} ms`;
    case 'replay-pause': return `pause WAL replay on ${f.node} for ${f.ms} ms`;
    case 'slow-link': return `slow link ${f.a}↔${f.b} (+${f.extraMs} ms) for ${f.ms} ms`;
    case 'set-timings': return `edit-config ttl=${f.ttlMs / 1000} loop_wait=${f.loopWaitMs / 1000} retry_timeout=${f.retryTimeoutMs / 1000}`;
    case 'switchover': return `switchover to ${f.candidate ?? 'the best replica'}`;
    case 'sigterm': return `SIGTERM agent ${f.node} (starts again after ${f.downMs} ms)`;
    case 'etcd-wipe': return 'etcd loses every key and lease (members rebuilt empty)';
    case 'stop-all': return `SIGTERM every agent, ${f.gapMs} ms apart in a random order (each starts again after ${f.downMs} ms)`;
    case 'stray-leader': return `leader key written by hand (no lease): ${f.value === 'replica' ? 'a replica\'s name' : f.value === 'malformed' ? 'a malformed value' : 'a name that is no member'}`;
  }
}

/** Draw faults for [from, to) of simulated time. */
export function drawFaults(rng: Rng, nodes: readonly string[], ttlMs: number, from: number, to: number): ScheduledFault[] {
  const out: ScheduledFault[] = [];
  const kinds: Array<[Fault['kind'], number]> = [
    ['freeze-agent', 14], ['kill-node', 14], ['kill-pg', 12], ['partition-etcd', 16], ['partition-peers', 7],
    ['partition-pair', 7], ['etcd-outage', 7], ['replay-pause', 11], ['slow-link', 12],
    ['set-timings', 8], ['switchover', 5], ['sigterm', 6], ['stray-leader', 4], ['etcd-wipe', 3], ['stop-all', 3],
  ];
  const total = kinds.reduce((s, [, w]) => s + w, 0);
  let t = from + rng.int(0, 3000);
  while (t < to) {
    let r = rng.next() * total;
    let kind: Fault['kind'] = kinds[0]![0];
    for (const [k, w] of kinds) {
      if ((r -= w) < 0) {
        kind = k;
        break;
      }
    }
    const node = rng.pick(nodes);
    const other = rng.pick(nodes.filter((n) => n !== node));
    // Around the lease: short blips, and outages well past it.
    const span = (): number => (rng.chance(0.5) ? rng.int(200, ttlMs) : rng.int(ttlMs, 4 * ttlMs));
    let fault: Fault;
    switch (kind) {
      case 'kill-node': fault = { kind, node, downMs: rng.int(500, 20_000) }; break;
      case 'kill-pg': fault = { kind, node }; break;
      case 'freeze-agent': fault = { kind, node, ms: span() }; break;
      case 'partition-etcd': fault = { kind, node, ms: span() }; break;
      case 'partition-peers': fault = { kind, node, ms: span() }; break;
      case 'partition-pair': fault = { kind, a: node, b: other, ms: span() }; break;
      case 'etcd-outage': fault = { kind, ms: rng.int(300, 3 * ttlMs) }; break;
      case 'replay-pause': fault = { kind, node, ms: rng.int(2000, 25_000) }; break;
      case 'slow-link': fault = { kind, a: node, b: rng.chance(0.5) ? 'etcd' : other, extraMs: rng.int(50, 900), ms: rng.int(1000, 15_000) }; break;
      case 'set-timings': {
        const [ttl, loopWait, retryTimeout] = rng.pick(TIMINGS);
        fault = { kind, ttlMs: ttl, loopWaitMs: loopWait, retryTimeoutMs: retryTimeout };
        break;
      }
      case 'switchover': fault = { kind, candidate: rng.chance(0.5) ? node : null }; break;
      case 'sigterm': fault = { kind, node: rng.chance(0.5) ? '@primary' : node, downMs: rng.int(500, 15_000) }; break;
      case 'stray-leader': fault = { kind, value: rng.pick(['replica', 'malformed', 'ghost'] as const) }; break;
      case 'etcd-wipe': fault = { kind }; break;
      case 'stop-all': fault = { kind, gapMs: rng.int(0, 3000), downMs: rng.int(2000, 20_000) }; break;
    }
    out.push({ at: t, fault });
    t += 1000 + Math.round(rng.exp(5000));
  }
  return out;
}
