// ctl commands run in-process over a fake etcd and fake agents: exit codes (0 / 1 / 2), what is
// printed, which agent gets which request, and the confirmation rules (no terminal and no
// --force → exit 2 with nothing sent).
import { describe, expect, it } from 'vitest';
import { DEFAULT_DYNAMIC_CONFIG } from '../../../agent/config/types.js';
import { runCtl } from '../../../agent/ctl/index.js';
import { clusterRead, harness, statusDoc, threeNodes } from './fakes.js';

describe('ctl list', () => {
  it('prints the member table with the leader and two replicas', async () => {
    const h = harness();
    expect(await h.run('list')).toBe(0);
    expect(h.io.out()).toMatch(/\| node-a \| node-a:5432 \| Leader +\| running/);
    expect(h.io.out().match(/\| Replica /g)).toHaveLength(2);
    expect(h.api.sent).toEqual([]);
  });

  it('--json prints one document', async () => {
    const h = harness();
    expect(await h.run('list', '--json')).toBe(0);
    const doc = JSON.parse(h.io.out()) as { leader: string; members: { name: string; role: string }[] };
    expect(doc.leader).toBe('node-a');
    expect(doc.members.map((m) => `${m.name}:${m.role}`)).toEqual(['node-a:leader', 'node-b:replica', 'node-c:replica']);
  });

  it('--watch refreshes, --count stops it', async () => {
    const h = harness();
    expect(await h.run('list', '--watch', '2', '--count', '3', '--json')).toBe(0);
    expect(h.io.out().trim().split('\n')).toHaveLength(3);
  });

  it('exits 1 for a cluster that is not in etcd', async () => {
    const h = harness({ read: { ...clusterRead(), keyCount: 0 } });
    expect(await h.run('list')).toBe(1);
    expect(h.io.err()).toMatch(/no cluster "demo"/);
  });
});

describe('usage errors exit 2', () => {
  it('an unknown command or flag', async () => {
    const h = harness();
    expect(await h.run('lisst')).toBe(2);
    expect(await h.run('list', '--bogus')).toBe(2);
    expect(await h.run('list', '--watch', '0')).toBe(2);
  });
});

describe('confirmation', () => {
  it('switchover without a terminal and without --force: exit 2, nothing sent', async () => {
    const h = harness();
    expect(await h.run('switchover', '--candidate', 'node-b')).toBe(2);
    expect(h.io.err()).toMatch(/stdin is not a terminal; pass --force/);
    expect(h.api.sent).toEqual([]);
  });

  it('a "no" at the prompt: exit 1 "aborted", nothing sent', async () => {
    const h = harness({ interactive: true });
    h.io.type('n\n');
    expect(await h.run('switchover', '--candidate', 'node-b')).toBe(1);
    expect(h.io.err()).toMatch(/aborted/);
    expect(h.api.sent).toEqual([]);
  });

  it('a "y" at the prompt goes ahead', async () => {
    const h = harness({ interactive: true });
    h.io.type('y\n');
    expect(await h.run('switchover', '--candidate', 'node-b')).toBe(0);
    expect(h.api.calls()).toEqual(['node-a POST /switchover']);
  });
});

describe('ctl switchover', () => {
  it('--force posts {leader, candidate} to the leader and prints the result and the new table', async () => {
    const h = harness();
    h.api.handlers.set('POST /switchover', () => {
      h.etcd.setLeader('node-b');
      return { status: 200, body: { message: 'node-b is the new leader' } };
    });
    expect(await h.run('switchover', '--candidate', 'node-b', '--force')).toBe(0);
    expect(h.api.sent).toEqual([{ member: 'node-a', method: 'POST', path: '/switchover', body: { leader: 'node-a', candidate: 'node-b' } }]);
    expect(h.io.out()).toMatch(/node-b is the new leader/);
    expect(h.io.out()).toMatch(/\| node-b \| node-b:5432 \| Leader/);
  });

  it('exits 1 with the agent\'s reason when it refuses (412)', async () => {
    const h = harness();
    h.api.handlers.set('POST /switchover', () => ({ status: 412, body: { message: 'no candidate qualifies' } }));
    expect(await h.run('switchover', '--force')).toBe(1);
    expect(h.io.err()).toMatch(/switchover failed \(HTTP 412\): no candidate qualifies/);
  });

  it('checks --leader and --scheduled before asking anyone', async () => {
    const h = harness();
    expect(await h.run('switchover', '--leader', 'node-b', '--force')).toBe(1);
    expect(await h.run('switchover', '--scheduled', '2020-01-01T00:00:00Z', '--force')).toBe(2);
    expect(await h.run('switchover', '--scheduled', 'tomorrow', '--force')).toBe(2);
    expect(await h.run('switchover', '--candidate', 'node-a', '--force')).toBe(2);
    expect(await h.run('switchover', '--candidate', 'node-z', '--force')).toBe(1);
    expect(h.api.sent).toEqual([]);
  });

  it('a scheduled switchover answers 202 and exits 0', async () => {
    const h = harness();
    h.api.handlers.set('POST /switchover', () => ({ status: 202, body: { message: 'switchover scheduled' } }));
    expect(await h.run('switchover', '--scheduled', '2030-01-01T03:00:00+01:00', '--force')).toBe(0);
    expect(h.api.sent[0]!.body).toEqual({ leader: 'node-a', scheduled_at: '2030-01-01T03:00:00+01:00' });
  });

  it('needs a leader', async () => {
    const h = harness({ read: clusterRead(threeNodes({ leader: null })) });
    expect(await h.run('switchover', '--force')).toBe(1);
    expect(h.io.err()).toMatch(/failover --candidate/);
  });

  it('tries the other members when the leader\'s agent does not answer', async () => {
    const h = harness();
    h.api.down.add('node-a');
    expect(await h.run('switchover', '--candidate', 'node-b', '--force')).toBe(0);
    expect(h.api.calls()).toEqual(['node-b POST /switchover']);
    expect(h.io.err()).toMatch(/node-a did not answer/);
  });

  it('explains where credentials come from on a 401', async () => {
    const h = harness();
    h.api.handlers.set('POST /switchover', () => ({ status: 401, body: { message: 'not authenticated' } }));
    expect(await h.run('switchover', '--force')).toBe(1);
    expect(h.io.err()).toMatch(/PGWARDEN_CTL_USERNAME/);
  });
});

describe('ctl failover', () => {
  it('needs --candidate without a terminal (exit 2)', async () => {
    const h = harness({ read: clusterRead(threeNodes({ leader: null })) });
    expect(await h.run('failover', '--force')).toBe(2);
    expect(await h.run('failover', '--candidate', 'node-b')).toBe(2);
    expect(h.api.sent).toEqual([]);
  });

  it('posts {candidate} to the candidate first', async () => {
    const h = harness({ read: clusterRead(threeNodes({ leader: null })) });
    expect(await h.run('failover', '--candidate', 'node-b', '--force')).toBe(0);
    expect(h.api.sent).toEqual([{ member: 'node-b', method: 'POST', path: '/failover', body: { candidate: 'node-b' } }]);
  });
});

describe('ctl pause / resume', () => {
  it('pause --wait posts /pause to the leader and waits until every member reports it', async () => {
    const h = harness();
    let polls = 0;
    h.api.handlers.set('POST /pause', () => ({ status: 200, body: { message: 'cluster paused' } }));
    const origGet = h.api.get.bind(h.api);
    h.api.get = async (url: string, path: string, t?: number) => {
      polls++;
      if (polls > 6) for (const [k, v] of h.api.status) h.api.status.set(k, { ...v, pause: true });
      return origGet(url, path, t);
    };
    expect(await h.run('pause', '--wait')).toBe(0);
    expect(h.api.calls()).toEqual(['node-a POST /pause']);
    expect(h.io.out()).toMatch(/Every member reports pause: true/);
  });

  it('--wait gives up at its deadline with exit 1, naming who did not follow', async () => {
    const h = harness();
    expect(await h.run('resume', '--wait', '--timeout', '3')).toBe(0); // every member already says pause: false
    expect(await h.run('pause', '--wait', '--timeout', '3')).toBe(1);
    expect(h.io.err()).toMatch(/timed out after 3 s waiting for every member to report pause: true \(not yet: node-a, node-b, node-c\)/);
  });
});

describe('ctl edit-config', () => {
  it('--set --force sends the merge patch with If-Match on the revision it read', async () => {
    const h = harness();
    expect(await h.run('edit-config', '--set', 'maximum_lag_on_failover=2097152', '--force')).toBe(0);
    expect(h.api.sent).toEqual([{
      member: 'node-a', method: 'PATCH', path: '/config', body: { maximum_lag_on_failover: 2097152 }, headers: { 'if-match': '"41"' },
    }]);
    expect(h.io.out()).toMatch(/-maximum_lag_on_failover: 1048576\n\+maximum_lag_on_failover: 2097152/);
    expect(h.io.out()).toMatch(/Configuration changed/);
  });

  it('--pretend shows the diff and sends nothing; no terminal and no --force is exit 2', async () => {
    const h = harness();
    expect(await h.run('edit-config', '--set', 'ttl=5', '--pretend')).toBe(0);
    expect(h.io.out()).toMatch(/\+ttl: 5/);
    expect(await h.run('edit-config', '--set', 'ttl=5')).toBe(2);
    expect(h.api.sent).toEqual([]);
  });

  it('an invalid value is exit 2 and nothing is sent', async () => {
    const h = harness();
    expect(await h.run('edit-config', '--set', 'ttl=soon', '--force')).toBe(2);
    expect(h.io.err()).toMatch(/ttl/);
    expect(h.api.sent).toEqual([]);
  });

  it('a lost race (409) is exit 1', async () => {
    const h = harness();
    h.api.handlers.set('PATCH /config', () => ({ status: 409, body: { message: 'the config changed since revision 41 (now 42)' } }));
    expect(await h.run('edit-config', '--set', 'ttl=5', '--force')).toBe(1);
    expect(h.io.err()).toMatch(/changed since revision 41.*run edit-config again/);
  });

  it('says so when nothing changes', async () => {
    const h = harness();
    expect(await h.run('edit-config', '--set', 'ttl=3', '--force')).toBe(0);
    expect(h.io.out()).toMatch(/Not changed/);
    expect(h.api.sent).toEqual([]);
  });

  it('without --set it needs a terminal for the editor', async () => {
    const h = harness();
    expect(await h.run('edit-config', '--force')).toBe(2);
  });
});

describe('ctl show-config and history', () => {
  it('show-config prints the config as YAML with secrets redacted', async () => {
    const cfg = { ...DEFAULT_DYNAMIC_CONFIG, postgresql: { parameters: { ssl_key_password: 'hunter2', work_mem: '8MB' } } };
    const h = harness({ read: clusterRead(threeNodes(), cfg) });
    expect(await h.run('show-config')).toBe(0);
    expect(h.io.out()).toMatch(/^check_timeline: true\n/);
    expect(h.io.out()).toMatch(/ssl_key_password: "?\[redacted\]"?/);
    expect(h.io.out()).not.toContain('hunter2');
  });

  it('history --json', async () => {
    const h = harness();
    expect(await h.run('history', '--json')).toBe(0);
    expect(JSON.parse(h.io.out())).toEqual([expect.objectContaining({ timeline: 1, new_leader: 'node-a' })]);
  });
});

describe('ctl restart', () => {
  it('restarts the replicas first, then hands over and restarts the old primary', async () => {
    const h = harness();
    h.api.handlers.set('POST /switchover', (c) => {
      const body = c.body as { candidate: string };
      h.etcd.setLeader(body.candidate);
      h.etcd.setMember('node-a', { role: 'replica' });
      h.api.status.set('node-a', statusDoc('replica'));
      return { status: 200, body: { message: `${body.candidate} is the new leader` } };
    });
    expect(await h.run('restart', '--force')).toBe(0);
    expect(h.api.calls()).toEqual([
      'node-b POST /restart',
      'node-c POST /restart',
      'node-a POST /switchover',
      'node-a POST /restart',
    ]);
    // node-c is tagged nofailover and 2 MB behind: node-b is the one caught up.
    expect(h.api.sent[2]!.body).toEqual({ leader: 'node-a', candidate: 'node-b' });
  });

  it('--pending restarts only members with a restart pending; --in-place keeps the primary where it is', async () => {
    const h = harness();
    h.api.status.set('node-a', statusDoc('primary', { pending_restart: true }));
    h.api.status.set('node-c', statusDoc('replica', { pending_restart: true }));
    expect(await h.run('restart', '--pending', '--in-place', '--force')).toBe(0);
    expect(h.api.calls()).toEqual(['node-c POST /restart', 'node-a POST /restart']);
  });

  it('refuses to restart the primary without a caught-up replica (exit 1)', async () => {
    const h = harness();
    h.etcd.setMember('node-b', { state: 'stopped' });
    expect(await h.run('restart', 'node-a', '--force')).toBe(1);
    expect(h.io.err()).toMatch(/no caught-up replica.*--in-place/);
    expect(h.api.sent).toEqual([]);
  });

  it('nothing pending: says so and exits 0', async () => {
    const h = harness();
    expect(await h.run('restart', '--pending', '--force')).toBe(0);
    expect(h.io.out()).toMatch(/No member has a restart pending/);
  });
});

describe('ctl reinit', () => {
  it('posts /reinitialize to the member and follows its state until it runs as a replica', async () => {
    const h = harness();
    let step = 0;
    const states = ['creating replica', 'starting', 'running'];
    h.api.handlers.set('POST /reinitialize', async () => {
      for (const s of states) {
        h.api.status.set('node-b', statusDoc('replica', { state: s }));
        step++;
        await new Promise((r) => setTimeout(r, 5));
      }
      return { status: 200, body: { message: 'node-b rebuilt from node-a' } };
    });
    expect(await h.run('reinit', 'node-b', '--force')).toBe(0);
    expect(step).toBe(3);
    expect(h.api.calls()).toEqual(['node-b POST /reinitialize']);
    expect(h.io.out()).toMatch(/node-b: reinitialize requested/);
    expect(h.io.out()).toMatch(/node-b: rebuilt, running as a replica/);
  });

  it('refuses the leader (exit 1) and needs confirmation (exit 2)', async () => {
    const h = harness();
    expect(await h.run('reinit', 'node-a', '--force')).toBe(1);
    expect(await h.run('reinit', 'node-b')).toBe(2);
    expect(h.api.sent).toEqual([]);
  });
});

describe('ctl remove', () => {
  const stopped = () => clusterRead(threeNodes({ members: [], leader: null }));

  it('needs --yes-i-am-sure <cluster> without a terminal (exit 2), matching the name', async () => {
    const h = harness({ read: stopped() });
    expect(await h.run('remove', 'demo')).toBe(2);
    expect(await h.run('remove', 'demo', '--yes-i-am-sure', 'other')).toBe(2);
    expect(h.etcd.removed).toBe(0);
    expect(await h.run('remove', 'demo', '--yes-i-am-sure', 'demo')).toBe(0);
    expect(h.etcd.removed).toBe(5);
    expect(h.io.out()).toMatch(/Removed cluster demo: 5 keys deleted/);
  });

  it('asks for the cluster name on a terminal', async () => {
    const h = harness({ read: stopped(), interactive: true });
    h.io.type('dmeo\n');
    expect(await h.run('remove', 'demo')).toBe(1);
    expect(h.etcd.removed).toBe(0);
    h.io.type('demo\n');
    expect(await h.run('remove', 'demo')).toBe(0);
    expect(h.etcd.removed).toBe(5);
  });

  it('refuses while members are registered, unless --force', async () => {
    const h = harness();
    expect(await h.run('remove', 'demo', '--yes-i-am-sure', 'demo')).toBe(1);
    expect(h.io.err()).toMatch(/members are still registered: node-a, node-b, node-c/);
    expect(await h.run('remove', 'demo', '--yes-i-am-sure', 'demo', '--force')).toBe(0);
  });
});

describe('ctl switchover --cancel', () => {
  it('sends DELETE /switchover when one is scheduled, and exits 1 when none is', async () => {
    const h = harness({ read: clusterRead(threeNodes({ failover: { leader: 'node-a', scheduledAt: '2030-01-01T00:00:00Z' } })) });
    expect(await h.run('switchover', '--cancel')).toBe(0);
    expect(h.api.calls()).toEqual(['node-a DELETE /switchover']);
    const none = harness();
    expect(await none.run('switchover', '--cancel')).toBe(1);
    expect(await none.run('switchover', '--cancel', '--candidate', 'node-b')).toBe(2);
  });
});

describe('ctl edit-config in $EDITOR', () => {
  it('sends the merge patch of what was changed in the editor (a deleted key resets it)', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const h = harness({ interactive: true });
    let seen = '';
    (h.io as { edit: (f: string) => Promise<number> }).edit = async (file) => {
      seen = readFileSync(file, 'utf8');
      writeFileSync(file, seen.replace('ttl: 3', 'ttl: 5').replace(/^use_slots: true\n/m, ''));
      return 0;
    };
    h.io.type('y\n');
    expect(await h.run('edit-config')).toBe(0);
    expect(seen).toMatch(/^# Dynamic config of cluster demo/);
    expect(h.api.sent[0]!.body).toEqual({ ttl: 5, use_slots: null });
    expect(h.io.out()).toMatch(/-ttl: 3\n\+ttl: 5/);
  });

  it('an editor that fails changes nothing (exit 1)', async () => {
    const h = harness({ interactive: true });
    expect(await h.run('edit-config')).toBe(1); // testIo's editor exits 1
    expect(h.io.err()).toMatch(/editor exited with code 1/);
    expect(h.api.sent).toEqual([]);
  });
});

describe('prompts', () => {
  it('end of input at a prompt counts as "no"', async () => {
    const h = harness({ interactive: true });
    (h.io.stdin as import('node:stream').PassThrough).end();
    expect(await h.run('switchover', '--candidate', 'node-b')).toBe(1);
    expect(h.io.err()).toMatch(/aborted/);
  });
});

describe('issue 11 item 15: runbook details', () => {
  it.each([['pause'], ['resume'], ['reload']])('%s accepts --force (changing commands take it)', async (cmd) => {
    const h = harness();
    h.api.handlers.set('POST /pause', () => ({ status: 200, body: { message: 'cluster paused' } }));
    h.api.handlers.set('POST /resume', () => ({ status: 200, body: { message: 'cluster resumed' } }));
    h.api.handlers.set('POST /reload', () => ({ status: 200, body: { message: 'reloaded' } }));
    expect(await h.run(cmd, '--force')).toBe(0);
    expect(h.io.err()).toBe('');
    expect(h.api.calls().length).toBeGreaterThan(0);
  });

  it('`ctl --etcd HOST list` keeps the command word (and --etcd repeats)', async () => {
    const h = harness();
    const seen: string[][] = [];
    const run = (...args: string[]) => runCtl(args, h.io, {
      makeEtcd: (cfg) => { seen.push([...cfg.etcd.hosts]); return h.etcd; },
      makeApi: () => h.api,
    });
    expect(await run('--etcd', '10.0.1.11:2379', 'list', '--scope', 'demo')).toBe(0);
    expect(await run('--etcd', '10.0.1.11:2379', '--etcd', '10.0.1.12:2379', '--scope', 'demo', 'list')).toBe(0);
    expect(await run('--etcd', '10.0.1.11:2379,10.0.1.12:2379', '--scope', 'demo', 'list')).toBe(0);
    expect(seen).toEqual([['10.0.1.11:2379'], ['10.0.1.11:2379', '10.0.1.12:2379'], ['10.0.1.11:2379', '10.0.1.12:2379']]);
    expect(h.io.out().match(/\| Leader /g)).toHaveLength(3);
  });
});
