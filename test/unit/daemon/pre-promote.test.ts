// postgresql.pre_promote (issue 12, item 3): the operator's command runs with /bin/sh -c; exit 0
// allows the promotion, anything else or the deadline refuses it, with what it printed.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../agent/clock.js';
import { prePromoteHook } from '../../../agent/daemon/pre-promote.js';

const hook = (cmd: string) => prePromoteHook(cmd, { name: 'n1', scope: 's', clock: systemClock });

describe('pre_promote hook', () => {
  it('exit 0 allows, with the output and the node name in its environment', async () => {
    expect(await hook('echo "ok for $PGWARDEN_NAME in $PGWARDEN_SCOPE"').run(5000)).toEqual({ ok: true, detail: 'ok for n1 in s' });
  });
  it('a non-zero exit refuses, naming the status and the output', async () => {
    const r = await hook('echo "lag too high" >&2; exit 3').run(5000);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/exited 3: lag too high/);
  });
  it('a command past its deadline refuses', async () => {
    const r = await hook('sleep 5').run(300);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/timed out after 300 ms/);
  });
});
