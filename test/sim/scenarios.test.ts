// Named scenarios (see scenarios.ts for what each guards against). Each asserts that every
// invariant held plus what the scenario is about, read from the run's trace.
import { describe, expect, it } from 'vitest';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { formatFailure } from './run.js';
import { World, type SimResult } from './world.js';

interface Line {
  readonly t: number;
  readonly who: string;
  readonly what: string;
}

function lines(r: SimResult): Line[] {
  return r.trace.map((l) => {
    const m = /^t=\s*(\d+) (\S+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`unparsable trace line: ${l}`);
    return { t: Number(m[1]), who: m[2]!, what: m[3]! };
  });
}

async function run(s: Scenario): Promise<{ r: SimResult; trace: Line[] }> {
  const r = await new World(s.config).run();
  return { r, trace: lines(r) };
}

function expectClean(r: SimResult): void {
  if (!r.ok) expect.fail(formatFailure(r, r.stats.simulatedMs));
}

function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`no scenario ${name}`);
  return s;
}

const first = (trace: Line[], pred: (l: Line) => boolean): Line | undefined => trace.find(pred);

/**
 * The agent paused right after deciding to race resumes after another member promoted (and died):
 * its race is lost on the compare of `status`/`history` with the revision it decided on, and it
 * does not promote before the heal. Returns its name.
 */
function expectStaleRaceLost(trace: Line[]): string {
  const freeze = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('SIGSTOP agent'))!;
  const late = /SIGSTOP agent (\S+)/.exec(freeze.what)![1]!;
  const decided = first(trace, (l) => l.t >= freeze.t && l.who === late && l.what.includes('leaderless.race'));
  expect(decided, 'it was paused right after deciding to race').toBeDefined();
  const thaw = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith(`SIGCONT agent ${late}`))!;
  const heal = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('HEAL'))!;
  expect(trace.some((l) => l.t > freeze.t && l.t < thaw.t && l.who !== late && l.what.startsWith('pg: PROMOTED')), 'another member promoted meanwhile').toBe(true);
  const lost = first(trace, (l) => l.t >= thaw.t && l.who === late && l.what.startsWith('the cluster changed since I decided'));
  expect(lost, 'the resumed race is lost on the compare').toBeDefined();
  expect(lost!.what).toMatch(/status modified at revision \d+.* > \d+\); deciding again$/);
  expect(trace.some((l) => l.t >= thaw.t && l.who === late && l.what.includes('won the race'))).toBe(false);
  expect(trace.some((l) => l.t >= thaw.t && l.t < heal.t && l.who === late && l.what.startsWith('pg: PROMOTED'))).toBe(false);
  return late;
}

describe('simulation scenarios', () => {
  it('old primary frozen past ttl must not be routed to', async () => {
    const { r, trace } = await run(scenario('old primary frozen past ttl must not be routed to'));
    expectClean(r);
    const freeze = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('SIGSTOP agent'))!;
    const frozen = /SIGSTOP agent (\S+)/.exec(freeze.what)![1]!;
    const promoted = first(trace, (l) => l.t > freeze.t && l.who !== frozen && l.what.startsWith('pg: PROMOTED'));
    expect(promoted, 'a replica takes over while the primary is frozen').toBeDefined();
    const down = first(trace, (l) => l.t > freeze.t && l.who === 'haproxy' && l.what.startsWith(`${frozen} is DOWN`));
    expect(down, 'HAProxy marks the frozen node down').toBeDefined();
    expect(down!.t).toBeLessThan(promoted!.t);
    expect(trace.some((l) => l.t > down!.t && l.who === 'haproxy' && l.what.startsWith(`${frozen} is UP`) && l.t < promoted!.t + 10_000
      && !trace.some((p) => p.who === frozen && p.what.startsWith('pg: PROMOTED') && p.t < l.t))).toBe(false);
    expect(r.stats.routedToFrozen).toBe(0);
    const thaw = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith(`SIGCONT agent ${frozen}`))!;
    const fence = first(trace, (l) => l.t >= thaw.t && l.who === frozen && /fencing/i.test(l.what));
    expect(fence, 'the thawed agent fences its primary at once').toBeDefined();
    expect(fence!.t - thaw.t).toBeLessThan(50);
    // The frozen agent's fence guard killed its PostgreSQL before the replica was promoted: no
    // window with two primaries (nothing is exempt from the split-brain check any more).
    const guard = first(trace, (l) => l.t > freeze.t && l.who === frozen && l.what.startsWith('guard: lease deadline passed'));
    expect(guard, 'the guard fenced the frozen primary').toBeDefined();
    expect(guard!.t).toBeLessThan(promoted!.t);
    expect(r.stats.guardFences).toBeGreaterThanOrEqual(1);
    expect(r.stats.freezeWindows).toBe(0);
  });

  it('without the fence guard (watchdog.mode off) the frozen primary overlaps the new one (freeze window)', async () => {
    const s = scenario('old primary frozen past ttl must not be routed to');
    const { r } = await run({ ...s, config: { ...s.config, guard: false } });
    expectClean(r);
    expect(r.stats.guardFences).toBe(0);
    expect(r.stats.freezeWindows).toBeGreaterThanOrEqual(1);
  });

  it('replica lagging beyond maximum_lag_on_failover is never promoted', async () => {
    const { r, trace } = await run(scenario('replica lagging beyond maximum_lag_on_failover is never promoted'));
    expectClean(r);
    const pause = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('pause WAL replay on'))!;
    const lagging = /on (\S+)/.exec(pause.what)![1]!;
    const kill = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('kill node'))!;
    const heal = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('HEAL'))!;
    const refusals = trace.filter((l) => l.who === lagging && l.t > kill.t && l.what.includes('leaderless.ineligible') && l.what.includes('maximum_lag_on_failover'));
    expect(refusals.length, 'the lagging replica sees no leader and refuses to race').toBeGreaterThan(5);
    expect(trace.some((l) => l.t > kill.t && l.t < heal.t && l.what.startsWith('pg: PROMOTED'))).toBe(false);
  });

  it('primary partitioned from etcd fences itself before a replica promotes', async () => {
    const { r, trace } = await run(scenario('primary partitioned from etcd fences itself before a replica promotes'));
    expectClean(r);
    const cut = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('partition'))!;
    const old = /partition (\S+) from etcd/.exec(cut.what)![1]!;
    const fence = first(trace, (l) => l.t > cut.t && l.who === old && /fencing/i.test(l.what))!;
    const promoted = first(trace, (l) => l.t > cut.t && l.who !== old && l.what.startsWith('pg: PROMOTED'))!;
    expect(fence).toBeDefined();
    expect(promoted).toBeDefined();
    // The margin (ttl × 0.2 = 600 ms) plus etcd's expiry ticker separate the two.
    expect(promoted.t - fence.t).toBeGreaterThan(500);
  });

  it('synchronous mode keeps every acknowledged commit across a primary crash', async () => {
    const { r, trace } = await run(scenario('synchronous mode keeps every acknowledged commit across a primary crash'));
    expectClean(r);
    const kill = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('kill node'))!;
    expect(trace.some((l) => l.t > kill.t && l.what.startsWith('pg: PROMOTED'))).toBe(true);
    expect(trace.some((l) => l.what.startsWith('published synchronous standbys'))).toBe(true);
    expect(r.stats.writesAcked).toBeGreaterThan(100);
    expect(r.stats.lostAcked).toBe(0);
  });

  it('etcd outage longer than ttl demotes the primary and the cluster recovers', async () => {
    const { r, trace } = await run(scenario('etcd outage longer than ttl demotes the primary and the cluster recovers'));
    expectClean(r);
    const out = first(trace, (l) => l.who === 'etcd' && l.what.startsWith('UNAVAILABLE'))!;
    const back = first(trace, (l) => l.who === 'etcd' && l.what.startsWith('available again'))!;
    // The fence guard fires GUARD_SLACK_MS before the agent's own timer would.
    expect(trace.some((l) => l.t > out.t && l.t < back.t && /fencing|guard: lease deadline passed/i.test(l.what))).toBe(true);
    expect(r.stats.convergenceMs).not.toBeNull();
  });

  it('in synchronous mode the leader named in `sync` can take over again', async () => {
    const { r, trace } = await run(scenario('in synchronous mode the leader named in `sync` can take over again'));
    expectClean(r);
    const cut = first(trace, (l) => l.who === 'FAULT' && l.what.includes('from etcd'))!;
    const p = /partition (\S+) from etcd/.exec(cut.what)![1]!;
    // The situation the bug needed: P unpublished its standby before losing its key…
    expect(trace.some((l) => l.who === p && l.t < cut.t && l.what.startsWith('unpublished synchronous standbys'))).toBe(true);
    // …the others refused to race (not listed in sync), and P itself led again.
    expect(trace.some((l) => l.who !== p && l.t > cut.t && l.what.includes('not listed in sync'))).toBe(true);
    expect(trace.some((l) => l.who === p && l.t > cut.t && l.what.includes('won the race'))).toBe(true);
  });

  it('a race decided on a stale view loses no acknowledged commit in synchronous mode (seed 1459)', async () => {
    const { r, trace } = await run(scenario('a race decided on a stale view loses no acknowledged commit in synchronous mode (seed 1459)'));
    expectClean(r);
    expectStaleRaceLost(trace);
    expect(r.stats.lostAcked).toBe(0);
  });

  it('a race decided on a view that changed before the key was taken is lost (was: KNOWN RUNTIME BUG stale-race-view)', async () => {
    const { r, trace } = await run(scenario('a race decided on a view that changed before the key was taken is lost (was: KNOWN RUNTIME BUG stale-race-view)'));
    expectClean(r);
    const late = expectStaleRaceLost(trace);
    // Deciding again on the fresh view, it sees it is behind the cluster's timeline.
    const lost = first(trace, (l) => l.who === late && l.what.startsWith('the cluster changed since I decided'))!;
    expect(first(trace, (l) => l.t >= lost.t && l.who === late && l.what.includes('leaderless.ineligible')
      && l.what.includes('on timeline 1, cluster is on 2'))).toBeDefined();
  });

  it('a replica diverged on a timeline with the leader\'s number is rebuilt', async () => {
    const { r, trace } = await run(scenario('a replica diverged on a timeline with the leader\'s number is rebuilt'));
    expectClean(r);
    // Two promotions picked timeline 2, and a replica of the first was refused by the second…
    const twos = trace.filter((l) => /^pg: PROMOTED: timeline 2 /.test(l.what));
    expect(new Set(twos.map((l) => l.who)).size, 'two members promoted to timeline 2').toBe(2);
    const refused = first(trace, (l) => /cannot stream from \S+: timeline 2 forked off timeline 2: WAL diverged/.test(l.what))!;
    expect(refused).toBeDefined();
    // …which is then rebuilt (pg_rewind would say "no rewind required") and streams again.
    const rebuild = first(trace, (l) => l.who === refused.who && l.what.includes('follower.diverged-same-timeline → rebuild'));
    expect(rebuild, 'the diverged replica is rebuilt').toBeDefined();
    expect(trace.some((l) => l.who === refused.who && l.t > rebuild!.t && l.what.startsWith('pg: streaming from'))).toBe(true);
    expect(r.stats.convergenceMs).not.toBeNull();
  });

  it('a promotion reached after the lease deadline is not carried out', async () => {
    const { r, trace } = await run(scenario('a promotion reached after the lease deadline is not carried out'));
    expectClean(r);
    const thaw = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('SIGCONT agent'))!;
    const late = /SIGCONT agent (\S+)/.exec(thaw.what)![1]!;
    // The other replica took over meanwhile; the resumed one read "won" but does not promote.
    expect(trace.some((l) => l.t < thaw.t && l.who !== late && l.what.startsWith('pg: PROMOTED'))).toBe(true);
    expect(first(trace, (l) => l.t >= thaw.t && l.who === late && l.what.includes('lease deadline passed before promoting; not promoting'))).toBeDefined();
    expect(trace.some((l) => l.t >= thaw.t && l.who === late && l.what.startsWith('pg: PROMOTED'))).toBe(false);
  });

  it('a bootstrap whose completion reached etcd keeps its data directory', async () => {
    const { r, trace } = await run(scenario('a bootstrap whose completion reached etcd keeps its data directory'));
    expectClean(r);
    const kept = first(trace, (l) => l.what.startsWith('bootstrap step failed') && l.what.includes('complete initialize'))!;
    expect(kept, 'the completion\'s answer was late').toBeDefined();
    expect(kept.what).toMatch(/keeping/);
    expect(trace.some((l) => l.what.includes('data directory removed'))).toBe(false);
    // Its data is the cluster: the others clone from it.
    expect(trace.some((l) => l.who !== kept.who && l.what.includes(`creating a replica from leader ${kept.who}`))).toBe(true);
  });

  it('a bootstrap claim whose answer is lost is resumed by its maker', async () => {
    const { r, trace } = await run(scenario('a bootstrap claim whose answer is lost is resumed by its maker'));
    expectClean(r);
    const lost = first(trace, (l) => l.what.includes('claim initialize: deadline exceeded'))!;
    expect(lost, 'the claim\'s answer was late').toBeDefined();
    const resumed = first(trace, (l) => l.who === lost.who && l.what.includes('bootstrap.resume-own-claim'));
    expect(resumed, 'its maker recognises the claim as its own').toBeDefined();
    expect(trace.some((l) => l.who === lost.who && l.t > resumed!.t && l.what.includes('cluster bootstrapped; I am the leader'))).toBe(true);
  });

  it('a handover interrupted past the lease deadline never restarts the old primary', async () => {
    const { r, trace } = await run(scenario('a handover interrupted past the lease deadline never restarts the old primary'));
    expectClean(r);
    const freeze = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith('SIGSTOP agent'))!;
    expect(freeze, 'the old primary was frozen right after its clean stop').toBeDefined();
    const old = /SIGSTOP agent (\S+)/.exec(freeze.what)![1]!;
    const thaw = first(trace, (l) => l.who === 'FAULT' && l.what.startsWith(`SIGCONT agent ${old}`))!;
    expect(trace.some((l) => l.t > freeze.t && l.t < thaw.t && l.who !== old && l.what.startsWith('pg: PROMOTED')), 'another member took over meanwhile').toBe(true);
    expect(first(trace, (l) => l.t >= thaw.t && l.who === old && /the leader key is no longer mine within my lease; not (restarting as primary|handing over)/.test(l.what))).toBeDefined();
    expect(trace.some((l) => l.t >= thaw.t && l.who === old && l.what.startsWith('pg: starting as primary'))).toBe(false);
  });

  it('a switchover candidate does not back off for its old primary\'s stale status', async () => {
    const { r, trace } = await run(scenario('a switchover candidate does not back off for its old primary\'s stale status'));
    expectClean(r);
    const start = first(trace, (l) => l.what.includes('switchover.start'))!;
    expect(start, 'the leader started the handover').toBeDefined();
    const released = first(trace, (l) => l.t >= start.t && l.what.includes('stopped cleanly and released the leader key'))!;
    expect(released).toBeDefined();
    const promoted = first(trace, (l) => l.t >= released.t && l.what.startsWith('pg: PROMOTED'))!;
    expect(promoted, 'the candidate took over').toBeDefined();
    expect(trace.some((l) => l.t >= released.t && l.t <= promoted.t && l.what.includes('race.primary-alive'))).toBe(false);
  });
});
