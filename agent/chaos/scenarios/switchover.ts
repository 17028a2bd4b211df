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

export const killDuringSwitchover: Scenario = {
  name: 'kill-during-switchover',
  description: 'POST /switchover, and kill the primary\'s node 300 ms later (mid-handover); restart it after a new primary',
  netns: false,
  async run(ctx) {
    ctx.step(`POST /switchover leader=${ctx.primary.name}, kill it 300 ms later`);
    ctx.faultInjected();
    const post = postSwitchover(ctx).catch((err: unknown) => `failed: ${(err as Error).message}`);
    await ctx.sleep(300);
    await ctx.cluster.killNode(ctx.primary);
    const answer = await post;
    const next = await ctx.waitNewPrimary(ctx.primary.name, 30_000);
    ctx.step(`new primary ${next.name} (switchover answer: ${answer}); restart ${ctx.primary.name}`);
    ctx.cluster.startAgent(ctx.primary);
    ctx.healed();
    return { notes: [`new primary ${next.name}`, `switchover: ${answer}`] };
  },
};
