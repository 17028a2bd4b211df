// SIGHUP log-level change: setLogLevel applies a new level to the whole logger tree — the root,
// children and grandchildren made before and after, and fastify's per-request loggers — from any
// logger of the tree. (pino children read their level through the prototype chain; this guards
// that, and the rule that nobody gives a child a level of its own.)
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { createLogger, rootOf, setLogLevel } from '../../../agent/log.js';
import { applyConfigReload, changedKeys } from '../../../agent/daemon/agent.js';
import { loadAgentConfig } from '../../../agent/config/load.js';

const BASE = {
  name: 'n1', scope: 'demo', 'etcd.hosts': ['127.0.0.1:2379'], 'restapi.listen': '127.0.0.1:8008',
  'postgresql.data_dir': '/tmp/pgdata', 'postgresql.bin_dir': '/usr/lib/postgresql/15/bin',
};

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); },
  });
  return { lines, logger: createLogger({ level: 'info', format: 'json', destination }) };
}

describe('setLogLevel', () => {
  it('changes the level of every logger in the tree, whichever logger it is called on', () => {
    const { lines, logger: root } = capture();
    const agent = root.child({ node: 'n1' });
    const dcs = agent.child({ component: 'dcs' });
    const lease = dcs.child({ component: 'lease' });

    lease.debug('hidden');
    expect(lines).toHaveLength(0);

    expect(setLogLevel(agent, 'debug')).toBe('info');
    const later = agent.child({ component: 'api' });
    for (const l of [root, agent, dcs, lease, later]) {
      expect(l.level).toBe('debug');
      l.debug('shown');
    }
    expect(lines).toHaveLength(5);
    expect(rootOf(lease)).toBe(root);

    setLogLevel(lease, 'warn');
    for (const l of [root, agent, dcs, lease, later]) l.info('hidden again');
    expect(lines).toHaveLength(5);
    lease.warn('a warning');
    expect(lines.at(-1)).toMatchObject({ msg: 'a warning', component: 'lease', node: 'n1' });
  });

  it('reaches fastify\'s request loggers', async () => {
    const { lines, logger } = capture();
    const app = Fastify({ loggerInstance: logger.child({ component: 'api' }) });
    app.get('/', (req, reply) => {
      req.log.debug('in handler');
      reply.send({ level: req.log.level });
    });
    expect((await app.inject('/')).json()).toEqual({ level: 'info' });
    expect(lines.some((l) => l['msg'] === 'in handler')).toBe(false);
    setLogLevel(logger, 'debug');
    expect((await app.inject('/')).json()).toEqual({ level: 'debug' });
    expect(lines.some((l) => l['msg'] === 'in handler' && l['component'] === 'api')).toBe(true);
    await app.close();
  });
});

describe('changedKeys (what a reload names as needing a restart)', () => {
  it('lists changed leaves by dotted path, never values', () => {
    const a = { log: { level: 'info' }, etcd: { hosts: ['a:2379'], password: 'x' }, postgresql: { port: 5432 } };
    const b = { log: { level: 'debug' }, etcd: { hosts: ['a:2379', 'b:2379'], password: 'y' }, postgresql: { port: 5432 }, tags: { nosync: true } };
    expect(changedKeys(a, b)).toEqual(['etcd.hosts', 'etcd.password', 'log.level', 'tags']);
    expect(changedKeys(a, structuredClone(a))).toEqual([]);
  });
});

describe('applyConfigReload (SIGHUP)', () => {
  it('applies log.level to the running tree and names what needs a restart', () => {
    const { lines, logger: root } = capture();
    const agentLog = root.child({ node: 'n1' });
    const pgLog = agentLog.child({ component: 'postgres' });
    const current = loadAgentConfig({ env: {}, overrides: BASE });
    const next = loadAgentConfig({ env: {}, overrides: { ...BASE, 'log.level': 'debug', 'postgresql.port': 5433, 'etcd.password': 'changed-secret', 'etcd.username': 'u' } });
    const r = applyConfigReload(agentLog, current, next);
    expect(r.restartNeeded).toEqual(['etcd.password', 'etcd.username', 'postgresql.connect_address', 'postgresql.port']);
    expect(r.applied.log.level).toBe('debug');
    expect(r.applied.postgresql.port).toBe(5432);
    pgLog.debug('now visible');
    expect(lines.some((l) => l['msg'] === 'now visible')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('changed-secret');
  });
});
