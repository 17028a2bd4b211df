// A simulation that cannot fail proves nothing. Each test breaks the agent or PostgreSQL on
// purpose and shows that the invariants catch it within a few seeds.
import { describe, expect, it } from 'vitest';
import { runSeed } from './run.js';
import type { Sabotage, SimConfig } from './world.js';

async function caught(sabotage: Sabotage, extra: Partial<SimConfig> = {}): Promise<Map<string, number>> {
  const kinds = new Map<string, number>();
  for (let seed = 1; seed <= 20; seed++) {
    const r = await runSeed(seed, { faultSeconds: 60, sabotage: [sabotage], ...extra });
    for (const v of r.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
  }
  return kinds;
}

describe('the simulation catches a broken agent', () => {
  it('a primary that acknowledges without its synchronous standby is caught losing acknowledged writes', async () => {
    expect((await caught('ack-without-standby', { synchronousMode: true })).get('lost-acked-write') ?? 0).toBeGreaterThan(0);
  });
});
