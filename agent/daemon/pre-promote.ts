// postgresql.pre_promote: the operator's command, run with /bin/sh -c before this node promotes.
// Exit 0 allows the promotion; anything else (or the deadline) aborts it. What it printed is
// logged with the decision (the last lines).
import type { Clock } from '../clock.js';
import { childEnv, runProgram, tail } from '../postgres/exec.js';
import type { PromotionHook } from '../ports/ports.js';

export function prePromoteHook(command: string, o: { name: string; scope: string; clock: Clock }): PromotionHook {
  return {
    async run(timeoutMs) {
      const r = await runProgram({
        file: '/bin/sh', args: ['-c', command], owner: null, timeoutMs, clock: o.clock,
        env: { PGWARDEN_NAME: o.name, PGWARDEN_SCOPE: o.scope },
      });
      const output = tail(`${r.stdout}\n${r.stderr}`) || '(no output)';
      if (r.timedOut) return { ok: false, detail: `timed out after ${timeoutMs} ms: ${output}` };
      if (r.code !== 0) return { ok: false, detail: `exited ${r.code ?? r.signal}: ${output}` };
      return { ok: true, detail: output };
    },
  };
}
