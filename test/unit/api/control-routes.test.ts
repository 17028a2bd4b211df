// The mutating endpoints (SPEC §1.2) over a fake ControlPort: who may call them (credentials,
// allowlist, the disabled default), what bodies they accept, and what they answer. Every bad
// request gets a 4xx with a JSON message — never a 500 — and the agent keeps serving.
import { systemClock } from '../../../agent/clock.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApi, type ApiDeps } from '../../../agent/api/server.js';
import { NodeStateStore } from '../../../agent/runtime/node-state.js';
import { createLogger } from '../../../agent/log.js';
import { primaryState } from './builders.js';
import { FakeControl } from './fake-control.js';

const WALL_NOW = Date.parse('2025-01-01T00:00:00Z');
const USER = 'admin';
const PASSWORD = 'correct horse battery staple';
const TOKEN = 'tok-0123456789abcdef';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const BEARER = `Bearer ${TOKEN}`;

const apps: FastifyInstance[] = [];
afterEach(async () => { await Promise.all(apps.splice(0).map((a) => a.close())); });

function api(opts: Partial<ApiDeps> = {}): { app: FastifyInstance; control: FakeControl } {
  const control = new FakeControl();
  const app = buildApi({
    store: new NodeStateStore(primaryState()),
    clock: { ...systemClock, now: () => 1_000_000, wallNow: () => WALL_NOW },
    logger: createLogger({ level: 'silent', format: 'json' }),
    control,
    auth: { username: USER, password: PASSWORD, token: TOKEN },
    ...opts,
  });
  apps.push(app);
  return { app, control };
}

/** Every mutating endpoint with a body it accepts. */
const ENDPOINTS: ReadonlyArray<{ method: 'POST' | 'PATCH' | 'DELETE'; url: string; body?: unknown; op: string }> = [
  { method: 'PATCH', url: '/config', body: { ttl: 5 }, op: 'writeConfig' },
  { method: 'POST', url: '/switchover', body: { leader: 'node-a', candidate: 'node-b' }, op: 'switchover' },
  { method: 'DELETE', url: '/switchover', op: 'cancelSwitchover' },
  { method: 'POST', url: '/failover', body: { candidate: 'node-b' }, op: 'failover' },
  { method: 'POST', url: '/restart', op: 'restart' },
  { method: 'POST', url: '/reinitialize', op: 'reinitialize' },
  { method: 'POST', url: '/reload', op: 'reload' },
  { method: 'POST', url: '/pause', op: 'writeConfig' },
  { method: 'POST', url: '/resume', op: 'readConfig' },
];

function request(e: (typeof ENDPOINTS)[number], headers: Record<string, string> = {}, extra: Partial<InjectOptions> = {}): InjectOptions {
  return {
    method: e.method,
    url: e.url,
    headers: { ...(e.body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(e.body !== undefined ? { payload: JSON.stringify(e.body) } : {}),
    ...extra,
  };
}

function json(method: 'POST' | 'PATCH', url: string, body: unknown, headers: Record<string, string> = {}): InjectOptions {
  return { method, url, headers: { 'content-type': 'application/json', authorization: BASIC, ...headers }, payload: JSON.stringify(body) };
}

describe('authentication of mutating endpoints', () => {
  for (const e of ENDPOINTS) {
    describe(`${e.method} ${e.url}`, () => {
      it('answers 401 with WWW-Authenticate and does nothing without credentials', async () => {
        const { app, control } = api();
        const res = await app.inject(request(e));
        expect(res.statusCode).toBe(401);
        expect(res.headers['www-authenticate']).toEqual(['Basic realm="pgwarden", charset="UTF-8"', 'Bearer realm="pgwarden"']);
        expect(res.json()).toMatchObject({ message: 'authentication required', code: 'UNAUTHORIZED' });
        expect(control.calls).toEqual([]);
      });

      it('answers 401 to a wrong password', async () => {
        const { app, control } = api();
        const wrong = `Basic ${Buffer.from(`${USER}:${PASSWORD}x`).toString('base64')}`;
        const res = await app.inject(request(e, { authorization: wrong }));
        expect(res.statusCode).toBe(401);
        expect(res.json()).toMatchObject({ message: 'not authenticated' });
        expect(control.calls).toEqual([]);
      });

      it('answers 401 to a wrong token', async () => {
        const { app, control } = api();
        const res = await app.inject(request(e, { authorization: `Bearer ${TOKEN.slice(0, -1)}` }));
        expect(res.statusCode).toBe(401);
        expect(control.calls).toEqual([]);
      });

      it('answers 403 to a caller outside the allowlist, even with good credentials', async () => {
        const { app, control } = api({ allowlist: ['10.0.0.0/8', 'fd00::/8'] });
        const res = await app.inject(request(e, { authorization: BASIC }, { remoteAddress: '192.168.1.5' }));
        expect(res.statusCode).toBe(403);
        expect(res.json()).toMatchObject({ code: 'NOT_ALLOWED' });
        expect(control.calls).toEqual([]);
      });

      it('passes through with basic auth from an allowed address', async () => {
        const { app, control } = api({ allowlist: ['10.0.0.0/8'] });
        const res = await app.inject(request(e, { authorization: BASIC }, { remoteAddress: '10.1.2.3' }));
        expect(res.statusCode).toBe(200);
        expect(control.ops()).toContain(e.op);
      });

      it('passes through with the bearer token', async () => {
        const { app, control } = api();
        const res = await app.inject(request(e, { authorization: BEARER }));
        expect(res.statusCode).toBe(200);
        expect(control.ops()).toContain(e.op);
      });

      it('answers 403 "mutating API disabled" when restapi.auth is not configured', async () => {
        const { app, control } = api({ auth: undefined });
        const res = await app.inject(request(e, { authorization: BASIC }));
        expect(res.statusCode).toBe(403);
        expect(res.json()).toEqual({ message: 'mutating API disabled: configure restapi.auth', code: 'MUTATING_API_DISABLED' });
        expect(control.calls).toEqual([]);
      });

      it('answers 503 "not available" when the agent has no control port', async () => {
        const { app } = api({ control: undefined });
        const res = await app.inject(request(e, { authorization: BASIC }));
        expect(res.statusCode).toBe(503);
        expect(res.json().message).toMatch(/not available/);
      });
    });
  }

  it('accepts IPv6 callers and IPv4-mapped addresses against the allowlist', async () => {
    const { app } = api({ allowlist: ['127.0.0.1', '2001:db8::/32'] });
    const restart = { method: 'POST' as const, url: '/restart', headers: { authorization: BASIC } };
    expect((await app.inject({ ...restart, remoteAddress: '2001:db8::7' })).statusCode).toBe(200);
    expect((await app.inject({ ...restart, remoteAddress: '::ffff:127.0.0.1' })).statusCode).toBe(200);
    expect((await app.inject({ ...restart, remoteAddress: '2001:db9::7' })).statusCode).toBe(403);
  });

  it('only-token and only-basic configurations accept only their own method', async () => {
    const tokenOnly = api({ auth: { token: TOKEN } }).app;
    expect((await tokenOnly.inject({ method: 'POST', url: '/reload', headers: { authorization: BEARER } })).statusCode).toBe(200);
    const basicRefused = await tokenOnly.inject({ method: 'POST', url: '/reload', headers: { authorization: BASIC } });
    expect(basicRefused.statusCode).toBe(401);
    expect(basicRefused.headers['www-authenticate']).toEqual(['Bearer realm="pgwarden"']);
    const basicOnly = api({ auth: { username: USER, password: PASSWORD } }).app;
    expect((await basicOnly.inject({ method: 'POST', url: '/reload', headers: { authorization: BEARER } })).statusCode).toBe(401);
  });

  it('leaves the read side open: health checks and GET /config need no credentials', async () => {
    const { app } = api({ allowlist: ['10.0.0.0/8'] });
    expect((await app.inject({ method: 'GET', url: '/primary', remoteAddress: '192.168.1.5' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/config', remoteAddress: '192.168.1.5' })).statusCode).toBe(200);
  });
});

describe('PATCH /config', () => {
  it('merges the patch, writes it with a CAS on the revision it read, and answers the new config', async () => {
    const { app, control } = api();
    const res = await app.inject(json('PATCH', '/config', { maximum_lag_on_failover: 2097152, postgresql: { parameters: { max_connections: 200 } } }));
    expect(res.statusCode).toBe(200);
    expect(res.json().config).toMatchObject({ maximum_lag_on_failover: 2097152, ttl: 3, postgresql: { parameters: { max_connections: 200 } } });
    expect(control.calls).toEqual([
      { op: 'readConfig' },
      { op: 'writeConfig', revision: 7, config: expect.objectContaining({ maximum_lag_on_failover: 2097152 }) },
    ]);
  });

  it('null deletes a key: it goes back to its default', async () => {
    const { app, control } = api();
    control.config = { ...control.config, ttl: 10, postgresql: { parameters: { work_mem: '8MB', max_connections: 200 } } };
    const res = await app.inject(json('PATCH', '/config', { ttl: null, postgresql: { parameters: { work_mem: null } } }));
    expect(res.statusCode).toBe(200);
    expect(control.config.ttl).toBe(3);
    expect(control.config.postgresql.parameters).toEqual({ max_connections: 200 });
  });

  it('answers 400 with the validation errors and writes nothing', async () => {
    const { app, control } = api();
    const res = await app.inject(json('PATCH', '/config', { ttl: 'soon', bogus_key: 1, loop_wait: 10 }));
    expect(res.statusCode).toBe(400);
    const body = res.json() as { message: string; errors: string[] };
    expect(body.errors.join('\n')).toMatch(/ttl/);
    expect(body.errors.join('\n')).toMatch(/bogus_key/);
    expect(control.ops()).not.toContain('writeConfig');
  });

  it('rejects a change that breaks the timing rule (loop_wait + 2 × retry_timeout ≤ ttl)', async () => {
    const { app, control } = api();
    const res = await app.inject(json('PATCH', '/config', { loop_wait: 5 }));
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/loop_wait \+ 2 × retry_timeout must be ≤ ttl/);
    expect(control.ops()).not.toContain('writeConfig');
  });

  it('answers 409 with a reason when another writer wins the race', async () => {
    const { app, control } = api();
    control.loseNextRace = true;
    const res = await app.inject(json('PATCH', '/config', { ttl: 6 }));
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/changed by someone else/) });
  });

  it('makes the caller\'s read part of the CAS with If-Match', async () => {
    const { app, control } = api();
    const stale = await app.inject(json('PATCH', '/config', { ttl: 6 }, { 'if-match': '"6"' }));
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ revision: 7 });
    expect(control.ops()).not.toContain('writeConfig');
    expect((await app.inject(json('PATCH', '/config', { ttl: 6 }, { 'if-match': '"7"' }))).statusCode).toBe(200);
    expect((await app.inject(json('PATCH', '/config', { ttl: 6 }, { 'if-match': 'yesterday' }))).statusCode).toBe(400);
  });

  it('accepts application/merge-patch+json', async () => {
    const { app } = api();
    const res = await app.inject({ ...json('PATCH', '/config', { ttl: 4 }), headers: { authorization: BASIC, 'content-type': 'application/merge-patch+json' } });
    expect(res.statusCode).toBe(200);
  });

  it('answers 400 to a body that is not an object, or no body', async () => {
    const { app } = api();
    expect((await app.inject(json('PATCH', '/config', [1, 2]))).statusCode).toBe(400);
    expect((await app.inject(json('PATCH', '/config', 'ttl'))).statusCode).toBe(400);
    expect((await app.inject({ method: 'PATCH', url: '/config', headers: { authorization: BASIC } })).statusCode).toBe(400);
  });

  it('redacts secret-named parameters in its answer', async () => {
    const { app } = api();
    const res = await app.inject(json('PATCH', '/config', { postgresql: { parameters: { ssl_key_password: 'hunter2' } } }));
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('hunter2');
  });
});

describe('POST /pause and /resume', () => {
  it('sets and clears pause in the dynamic config', async () => {
    const { app, control } = api();
    const paused = await app.inject({ method: 'POST', url: '/pause', headers: { authorization: BASIC } });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ pause: true });
    expect(control.config.pause).toBe(true);
    const again = await app.inject({ method: 'POST', url: '/pause', headers: { authorization: BASIC } });
    expect(again.json().message).toBe('cluster is already paused');
    expect((await app.inject({ method: 'POST', url: '/resume', headers: { authorization: BASIC } })).statusCode).toBe(200);
    expect(control.config.pause).toBe(false);
  });
});

describe('POST /switchover', () => {
  it('passes leader, candidate and scheduled_at to the control port and answers its result', async () => {
    const { app, control } = api();
    control.result = { status: 202, message: 'switchover from node-a scheduled', details: { at: '2025-01-02T00:00:00Z' } };
    const res = await app.inject(json('POST', '/switchover', { leader: 'node-a', candidate: 'node-b', scheduled_at: '2025-01-02T00:00:00Z' }));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ message: 'switchover from node-a scheduled', at: '2025-01-02T00:00:00Z' });
    expect(control.calls).toEqual([{ op: 'switchover', req: { leader: 'node-a', candidate: 'node-b', scheduledAt: '2025-01-02T00:00:00Z' } }]);
  });

  it('answers 412 when the control port says no candidate qualifies', async () => {
    const { app, control } = api();
    control.result = { status: 412, message: 'no candidate qualifies: node-b is lagging' };
    const res = await app.inject(json('POST', '/switchover', { leader: 'node-a' }));
    expect(res.statusCode).toBe(412);
    expect(res.json()).toEqual({ message: 'no candidate qualifies: node-b is lagging' });
  });

  const BAD: ReadonlyArray<[string, unknown, RegExp]> = [
    ['an unknown field', { leader: 'node-a', member: 'node-b' }, /member: unknown field/],
    ['a missing leader', { candidate: 'node-b' }, /leader: is required/],
    ['a leader of the wrong type', { leader: 42 }, /leader: must be a member name/],
    ['leader = candidate', { leader: 'node-a', candidate: 'node-a' }, /same/],
    ['scheduled_at without a zone', { leader: 'node-a', scheduled_at: '2025-01-02T00:00:00' }, /time zone/],
    ['scheduled_at that is not a time', { leader: 'node-a', scheduled_at: 'tomorrow' }, /ISO-8601/],
    ['scheduled_at in the past', { leader: 'node-a', scheduled_at: '2024-12-31T23:59:00Z' }, /in the future/],
    ['scheduled_at of the wrong type', { leader: 'node-a', scheduled_at: 1735776000 }, /scheduled_at/],
    ['an array', [{ leader: 'node-a' }], /must be a JSON object/],
    ['null', null, /must be a JSON object/],
  ];
  for (const [what, body, message] of BAD) {
    it(`answers 400 to ${what}`, async () => {
      const { app, control } = api();
      const res = await app.inject(json('POST', '/switchover', body));
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(message);
      expect(control.calls).toEqual([]);
    });
  }

  it('answers 400 to a switchover without a body', async () => {
    const { app } = api();
    expect((await app.inject({ method: 'POST', url: '/switchover', headers: { authorization: BASIC } })).statusCode).toBe(400);
  });
});

describe('POST /failover and the body-less operations', () => {
  it('failover needs exactly {candidate}', async () => {
    const { app, control } = api();
    expect((await app.inject(json('POST', '/failover', {}))).statusCode).toBe(400);
    expect((await app.inject(json('POST', '/failover', { candidate: 'node-b', leader: 'node-a' }))).statusCode).toBe(400);
    expect((await app.inject(json('POST', '/failover', { candidate: '' }))).statusCode).toBe(400);
    expect(control.calls).toEqual([]);
    expect((await app.inject(json('POST', '/failover', { candidate: 'node-b' }))).statusCode).toBe(200);
    expect(control.calls).toEqual([{ op: 'failover', candidate: 'node-b' }]);
  });

  it('restart, reinitialize and reload accept no body or {}, and refuse fields', async () => {
    const { app, control } = api();
    expect((await app.inject(json('POST', '/restart', {}))).statusCode).toBe(200);
    const res = await app.inject(json('POST', '/reinitialize', { force: true }));
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/force: unknown field/);
    expect(control.ops()).toEqual(['restart']);
  });

  it('answers the control port\'s status, and 503 (not 500) when it throws', async () => {
    const { app, control } = api();
    control.result = { status: 412, message: 'node-a is the leader; switch over first' };
    expect((await app.inject({ method: 'POST', url: '/reinitialize', headers: { authorization: BASIC } })).statusCode).toBe(412);
    control.failWith = new Error('etcd unavailable');
    const res = await app.inject({ method: 'POST', url: '/restart', headers: { authorization: BASIC } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ message: 'restart failed: etcd unavailable', code: 'FAILED' });
  });
});

describe('bad requests never break the agent', () => {
  it('answers 413 to a body over 64 KiB', async () => {
    const { app, control } = api();
    const res = await app.inject(json('PATCH', '/config', { postgresql: { parameters: { application_name: 'x'.repeat(70_000) } } }));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    expect(control.calls).toEqual([]);
  });

  it('answers 415 to a body that is not JSON', async () => {
    const { app, control } = api();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await app.inject({ method: 'POST', url: '/switchover', headers: { authorization: BASIC, 'content-type': type }, payload: 'leader=node-a' });
      expect(res.statusCode, type).toBe(415);
    }
    const untyped = await app.inject({ method: 'POST', url: '/restart', headers: { authorization: BASIC }, payload: 'x' });
    expect(untyped.statusCode).toBe(415);
    expect(control.calls).toEqual([]);
  });

  it('answers 400 to malformed JSON and to a prototype-poisoning body', async () => {
    const { app } = api();
    const base = { method: 'POST' as const, url: '/switchover', headers: { authorization: BASIC, 'content-type': 'application/json' } };
    expect((await app.inject({ ...base, payload: '{"leader": ' })).statusCode).toBe(400);
    expect((await app.inject({ ...base, payload: '{"leader":"a","__proto__":{"x":1}}' })).statusCode).toBe(400);
  });

  it('keeps serving after a run of bad requests', async () => {
    const { app } = api();
    await app.inject({ method: 'POST', url: '/switchover', headers: { authorization: BASIC, 'content-type': 'application/json' }, payload: '{' });
    await app.inject(json('PATCH', '/config', { ttl: 'x'.repeat(70_000) }));
    await app.inject({ method: 'POST', url: '/restart', headers: { authorization: 'Basic !!!' } });
    await app.inject({ method: 'POST', url: '/restart', headers: { authorization: 'Digest abc' } });
    expect((await app.inject({ method: 'GET', url: '/primary' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/reload', headers: { authorization: BASIC } })).statusCode).toBe(200);
  });
});
