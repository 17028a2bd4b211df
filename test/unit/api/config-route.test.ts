// GET /config: the dynamic config in force, secrets redacted; 503 with a JSON body before the
// first cluster view.
import { systemClock } from '../../../agent/clock.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../../agent/api/server.js';
import { NodeStateStore, type NodeState } from '../../../agent/runtime/node-state.js';
import { createLogger } from '../../../agent/log.js';
import { DEFAULT_DYNAMIC_CONFIG, type DynamicConfig } from '../../../agent/config/types.js';
import { NOW, primaryState, withNoCluster } from './builders.js';

const apps: FastifyInstance[] = [];
afterEach(async () => { await Promise.all(apps.splice(0).map((a) => a.close())); });

function app(state: NodeState): FastifyInstance {
  const a = buildApi({
    store: new NodeStateStore(state),
    clock: { ...systemClock, now: () => NOW, wallNow: () => 0 },
    logger: createLogger({ level: 'silent', format: 'json' }),
  });
  apps.push(a);
  return a;
}

describe('GET /config', () => {
  it('serves the dynamic config with secret-named values redacted', async () => {
    const config: DynamicConfig = {
      ...DEFAULT_DYNAMIC_CONFIG,
      ttl: 5,
      postgresql: { parameters: { max_connections: 200, primary_conninfo_password: 'hunter2', archive_command: 'true' } },
    };
    const res = await app(primaryState({ dynamicConfig: config })).inject({ method: 'GET', url: '/config' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json() as DynamicConfig;
    expect(body.ttl).toBe(5);
    expect(body.postgresql.parameters).toEqual({ max_connections: 200, primary_conninfo_password: '[redacted]', archive_command: 'true' });
    expect(res.body).not.toContain('hunter2');
  });

  it('answers 503 with a JSON error before the first cluster view', async () => {
    const res = await app(withNoCluster(primaryState())).inject({ method: 'GET', url: '/config' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: { code: 'NO_CLUSTER_VIEW', message: 'no cluster view read from etcd yet' } });
  });
});
