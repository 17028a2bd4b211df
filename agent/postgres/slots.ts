// Physical replication slots: create the wanted ones, drop inactive ones nobody wants.
import type pg from 'pg';
import type { Logger } from '../log.js';

export interface SlotPlan {
  readonly create: string[];
  readonly drop: string[];
  /** Unwanted but active: left alone this time. */
  readonly keep: string[];
}

export function planSlots(
  wanted: readonly string[],
  existing: readonly { slot_name: string; slot_type: string; active: boolean }[],
): SlotPlan {
  const want = new Set(wanted);
  const physical = existing.filter((s) => s.slot_type === 'physical');
  const have = new Set(physical.map((s) => s.slot_name));
  return {
    create: [...want].filter((n) => !have.has(n)).sort(),
    drop: physical.filter((s) => !want.has(s.slot_name) && !s.active).map((s) => s.slot_name).sort(),
    keep: physical.filter((s) => !want.has(s.slot_name) && s.active).map((s) => s.slot_name).sort(),
  };
}

export async function syncPhysicalSlots(client: pg.Client, wanted: readonly string[], log: Logger): Promise<SlotPlan> {
  const existing = await client.query<{ slot_name: string; slot_type: string; active: boolean }>(
    'SELECT slot_name, slot_type, active FROM pg_replication_slots');
  const plan = planSlots(wanted, existing.rows);
  for (const name of plan.create) {
    try {
      await client.query('SELECT pg_create_physical_replication_slot($1, true)', [name]);
      log.info({ slot: name }, 'replication slot created');
    } catch (err) {
      if ((err as { code?: string }).code !== '42710') throw err; // created concurrently: fine
    }
  }
  for (const name of plan.drop) {
    try {
      await client.query('SELECT pg_drop_replication_slot($1)', [name]);
      log.info({ slot: name }, 'replication slot dropped');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '55006' || code === '42704') continue; // became active / already gone
      throw err;
    }
  }
  if (plan.keep.length > 0) log.debug({ slots: plan.keep }, 'unwanted replication slots still active, kept');
  return plan;
}
