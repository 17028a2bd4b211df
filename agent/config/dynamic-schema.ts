// The dynamic config schema (etcd `config`, and `bootstrap.dcs` in the file) and the timing rule.
import { z } from 'zod';
import { DEFAULT_DYNAMIC_CONFIG as D } from './types.js';
import { isPlainObject } from './paths.js';
import { ALWAYS, bool, integer, number, parameters } from './schema-parts.js';

// Minimums: ttl is an etcd lease TTL, which etcd grants in whole seconds and not below ~2 s in
// practice; loop_wait and retry_timeout below 0.1 s would just hammer etcd.
export const ttlSchema = integer('an integer number of seconds ≥ 2 (etcd lease TTL)', 2);
export const loopWaitSchema = number('a number of seconds ≥ 0.1', 0.1);
export const retryTimeoutSchema = number('a number of seconds ≥ 0.1', 0.1);

export const dynamicConfigSchema = z
  .strictObject(
    {
      ttl: ttlSchema.default(D.ttl),
      loop_wait: loopWaitSchema.default(D.loop_wait),
      retry_timeout: retryTimeoutSchema.default(D.retry_timeout),
      maximum_lag_on_failover: integer('an integer number of bytes ≥ 0', 0).default(D.maximum_lag_on_failover),
      min_failover_interval: number('a number of seconds ≥ 0 (0: off)', 0).default(D.min_failover_interval),
      primary_start_timeout: number('a number of seconds ≥ 0', 0).default(D.primary_start_timeout),
      synchronous_mode: bool.default(D.synchronous_mode),
      synchronous_mode_strict: bool.default(D.synchronous_mode_strict),
      synchronous_node_count: integer('an integer ≥ 1', 1).default(D.synchronous_node_count),
      check_timeline: bool.default(D.check_timeline),
      use_pg_rewind: bool.default(D.use_pg_rewind),
      rebuild_on_rewind_failure: bool.default(D.rebuild_on_rewind_failure),
      use_slots: bool.default(D.use_slots),
      pause: bool.default(D.pause),
      postgresql: z.strictObject({ parameters }, { error: 'a mapping' }).prefault({}),
    },
    { error: 'a mapping' },
  )
  .superRefine((v, ctx) => {
    if (!isPlainObject(v)) return;
    checkTiming(v, ctx);
    if (v.synchronous_mode_strict === true && v.synchronous_mode !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['synchronous_mode_strict'],
        message: 'requires synchronous_mode: true; set synchronous_mode: true or synchronous_mode_strict: false',
      });
    }
  }, ALWAYS);

/**
 * The timing rule: loop_wait + 2 × retry_timeout ≤ ttl. A primary may miss one cycle (loop_wait)
 * and then spend up to retry_timeout on a failed read and another on a failed renewal; it must
 * still see the failure and demote before its lease (ttl) runs out.
 */
export function timingViolation(ttl: number, loopWait: number, retryTimeout: number): string | null {
  const need = loopWait + 2 * retryTimeout;
  if (need <= ttl + 1e-9) return null;
  return (
    `loop_wait + 2 × retry_timeout must be ≤ ttl, but ${loopWait} + 2 × ${retryTimeout} = ${round(need)} > ${ttl}; ` +
    `raise ttl to ${Math.ceil(need - 1e-9)} or more, or lower loop_wait or retry_timeout`
  );
}

function checkTiming(v: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const ttl = ttlSchema.safeParse(v.ttl ?? D.ttl);
  const lw = loopWaitSchema.safeParse(v.loop_wait ?? D.loop_wait);
  const rt = retryTimeoutSchema.safeParse(v.retry_timeout ?? D.retry_timeout);
  if (!ttl.success || !lw.success || !rt.success) return; // each already has its own error
  const msg = timingViolation(ttl.data, lw.data, rt.data);
  if (msg) {
    ctx.addIssue({ code: 'custom', path: ['ttl'], message: msg, params: { allowed: 'loop_wait + 2 × retry_timeout ≤ ttl' } });
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

