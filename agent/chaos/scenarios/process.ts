// Process faults on the primary: PostgreSQL killed, agent killed, both (node loss), agent frozen.
import { holdFault, type Scenario } from './types.js';

export const killPostgres: Scenario = {
  name: 'kill-postgres',
  description: 'SIGKILL the primary\'s postmaster (and its children); the agent restarts it or fails over',
  netns: false,
  async run(ctx) {
    ctx.step(`SIGKILL PostgreSQL on primary ${ctx.primary.name}`);
    ctx.faultInjected();
    await ctx.cluster.killPostgres(ctx.primary);
    ctx.healed(); // nothing to heal: the agent is expected to recover on its own
    return {};
  },
};

export const killAgent: Scenario = {
  name: 'kill-agent',
  description: 'SIGKILL the primary\'s agent (PostgreSQL keeps running); restart it after 2×ttl',
  netns: false,
  async run(ctx) {
    ctx.step(`SIGKILL agent of primary ${ctx.primary.name}`);
    ctx.faultInjected();
    await ctx.cluster.killAgent(ctx.primary, 'SIGKILL');
    await ctx.sleep(2 * ctx.ttlMs);
    ctx.step(`restart agent ${ctx.primary.name}`);
    ctx.cluster.startAgent(ctx.primary);
    ctx.healed();
    return {};
  },
};

export const nodeLoss: Scenario = {
  name: 'node-loss',
  description: 'SIGKILL the primary\'s agent and PostgreSQL together; wait for a new primary; restart the node',
  netns: false,
  async run(ctx) {
    ctx.step(`kill node ${ctx.primary.name} (agent + PostgreSQL)`);
    ctx.faultInjected();
    await ctx.cluster.killNode(ctx.primary);
    const next = await ctx.waitNewPrimary(ctx.primary.name);
    ctx.step(`new primary ${next.name}; restart ${ctx.primary.name}`);
    ctx.cluster.startAgent(ctx.primary);
    ctx.healed();
    return { notes: [`new primary ${next.name}`] };
  },
};

export const agentFreeze: Scenario = {
  name: 'agent-freeze',
  description: 'SIGSTOP the primary\'s agent for 3×ttl, then SIGCONT (its fence guard kills PostgreSQL before the lease can expire)',
  netns: false,
  async run(ctx) {
    const next = await holdFault(ctx, {
      what: `SIGSTOP agent of primary ${ctx.primary.name} for ${3 * ctx.ttlMs} ms`,
      inject: () => ctx.cluster.freezeAgent(ctx.primary),
      heal: () => ctx.cluster.thawAgent(ctx.primary),
      healedWhat: `SIGCONT agent ${ctx.primary.name}`,
      during: async () => {
        const p = (await ctx.waitNewPrimary(ctx.primary.name, 30_000)).name;
        ctx.step(`new primary ${p} while ${ctx.primary.name} is frozen`);
        return p;
      },
      holdMs: 3 * ctx.ttlMs,
    });
    // No expected overlap: the split-brain probe and the stale-ack check hold as for any fault.
    return { notes: [`new primary ${next ?? 'none'}`] };
  },
};
