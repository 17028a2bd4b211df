// Planned switchover under write load, and the primary lost in the middle of one.
import type { Scenario, ScenarioContext } from './types.js';

async function postSwitchover(ctx: ScenarioContext): Promise<string> {
  const res = await ctx.cluster.api(ctx.primary, '/switchover', { method: 'POST', body: { leader: ctx.primary.name }, timeoutMs: 10_000 });
  if (res.status >= 300) throw new Error(`POST /switchover: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  return `HTTP ${res.status}`;
}

export const switchoverUnderLoad: Scenario = {
  name: 'switchover',
  description: 'POST /switchover on the primary (cluster.api) while the writer runs',
  netns: false,
  async run(ctx) {
    ctx.step(`POST /switchover leader=${ctx.primary.name}`);
    ctx.faultInjected();
    const answer = await postSwitchover(ctx);
    const next = await ctx.waitNewPrimary(ctx.primary.name, 30_000);
    ctx.step(`switched over to ${next.name} (${answer})`);
    ctx.healed();
    return { notes: [`new primary ${next.name}`] };
  },
};

/** Poll interval while waiting for the primary to start handing over. */
const HANDOVER_POLL_MS = 10;

/**
 * Resolves once the primary has begun handing over (its /primary check stops answering 200: it
 * stopped serving, before it checkpoints, stops and releases the key), or once `answered` is set.
 * Bounded by `timeoutMs`.
 */
async function handoverBegun(ctx: ScenarioContext, answered: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && !answered()) {
    const res = await ctx.cluster.api(ctx.primary, '/primary', { method: 'OPTIONS', auth: false, timeoutMs: 500 }).catch(() => null);
    if (res !== null && res.status !== 200) return true;
    await ctx.sleep(HANDOVER_POLL_MS);
  }
  return false;
}

export const killDuringSwitchover: Scenario = {
  name: 'kill-during-switchover',
  description: 'POST /switchover and kill the primary\'s node the moment it begins handing over (stops serving, before it releases the key); restart it after a new primary',
  netns: false,
  async run(ctx) {
    ctx.step(`POST /switchover leader=${ctx.primary.name}; kill it as soon as it stops serving`);
    ctx.faultInjected();
    const posted = Date.now();
    let answered = false;
    const post = postSwitchover(ctx)
      .catch((err: unknown) => `failed: ${(err as Error).message}`)
      .finally(() => { answered = true; });
    const midway = await handoverBegun(ctx, () => answered, 10_000);
    const kill = ctx.cluster.killNode(ctx.primary); // signals at once, then waits for the exits
    const killedAfter = Date.now() - posted;
    await kill;
    const answer = await post;
    const when = midway ? `mid-handover, ${killedAfter} ms after the request` : `after the switchover had finished (${killedAfter} ms): the in-flight case was missed`;
    ctx.step(`killed ${ctx.primary.name} ${when}`);
    const next = await ctx.waitNewPrimary(ctx.primary.name, 30_000);
    ctx.step(`new primary ${next.name} (switchover answer: ${answer}); restart ${ctx.primary.name}`);
    ctx.cluster.startAgent(ctx.primary);
    ctx.healed();
    return { notes: [`new primary ${next.name}`, `killed ${when}`, `switchover: ${answer}`] };
  },
};
