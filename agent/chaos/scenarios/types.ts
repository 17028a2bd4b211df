// The shape of a chaos scenario. A scenario injects one fault into a running LocalCluster, holds
// it, and heals it; the runner (../runner.ts) does everything around it: the writer through
// HAProxy, the split-brain probe, the wait for convergence and the checks.
import type { LocalCluster, LocalNode } from '../../local/cluster.js';
import type { NetnsNetwork } from '../../local/netns.js';

export interface ScenarioContext {
  readonly cluster: LocalCluster;
  /** The cluster's namespaces (null unless the cluster runs with netns: true). */
  readonly net: NetnsNetwork | null;
  readonly primary: LocalNode;
  readonly replicas: readonly LocalNode[];
  /** Dynamic config ttl in ms (lease lifetime). */
  readonly ttlMs: number;
  /** A progress line (printed by `pgwarden chaos`, logged by the tests). */
  step(msg: string): void;
  /** Marks the instant the fault is injected (RTO is measured from here). Call once. */
  faultInjected(): void;
  /** Marks the instant the fault is healed (convergence is measured from here). Call once. */
  healed(): void;
  sleep(ms: number): Promise<void>;
  /** Bounded wait for a new primary other than `exclude` (agent status). */
  waitNewPrimary(exclude: string, timeoutMs?: number): Promise<LocalNode>;
}

/** A split-brain window the scenario expects and that is reported but not counted as a failure. */
export interface ExpectedOverlap {
  /** The node whose writability is expected to overlap another's. */
  readonly node: string;
  /** Only windows starting before this instant are expected (e.g. until the frozen agent resumes). */
  readonly until: number;
  /** How long after `until` such a window may still last (the resumed agent demoting). */
  readonly graceMs: number;
  readonly why: string;
}

export interface ScenarioOutcome {
  readonly expectedOverlap?: ExpectedOverlap;
  /** Free-form facts worth reporting (new primary, whether the fault hit…). */
  readonly notes?: readonly string[];
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Needs per-node network namespaces (partitions, latency). */
  readonly netns: boolean;
  /** Needs every connection to pass through delay relays (LocalCluster latencyRelay). */
  readonly latencyRelay?: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

/** A fault held for a while and then healed: what most scenarios are. */
export interface HeldFault<T> {
  /** The progress line for the injection. */
  readonly what: string;
  readonly inject: () => void | Promise<void>;
  /** Always runs, also when `during` or the hold fails. */
  readonly heal: () => void | Promise<void>;
  /** The progress line after the heal. */
  readonly healedWhat?: string;
  /** Runs right after the injection (e.g. wait for a new primary); its result is returned. */
  readonly during?: () => Promise<T>;
  /** How long the fault is held after `during` returned. */
  readonly holdMs: number;
}

/** Marks the fault, injects it, runs `during`, holds, heals (in a finally), then marks the heal. */
export async function holdFault<T = undefined>(ctx: ScenarioContext, f: HeldFault<T>): Promise<T | undefined> {
  ctx.step(f.what);
  ctx.faultInjected();
  let result: T | undefined;
  try {
    await f.inject();
    if (f.during) result = await f.during();
    await ctx.sleep(f.holdMs);
  } finally {
    await f.heal();
  }
  if (f.healedWhat) ctx.step(f.healedWhat);
  ctx.healed();
  return result;
}
