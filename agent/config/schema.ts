// The static config schema (pgwarden.yml after env and overrides are layered on). Its output is
// the plain AgentConfig shape, minus config_file which load.ts adds.
import { z } from 'zod';
import type { AgentConfig, DynamicConfig } from './types.js';
import { NAMESPACE_RE, isIpOrCidr, isListenAddresses, isWildcard, joinHostPort, parseHostPort } from './formats.js';
import { isPlainObject } from './paths.js';
import { dynamicConfigSchema } from './dynamic-schema.js';
import {
  ABSENT, ALWAYS, absolutePath, bool, hostPort, integer, matching, number, name, nonEmpty, pairRequired, parameters, port, roleName,
  secret, secretSource,
} from './schema-parts.js';

export { dynamicConfigSchema, timingViolation } from './dynamic-schema.js';
export { MANAGED_PARAMETERS } from './schema-parts.js';

const tlsFiles = z
  .strictObject({ ca: absolutePath.optional(), cert: absolutePath.optional(), key: absolutePath.optional() }, { error: 'a mapping' })
  .superRefine((v, ctx) => pairRequired(v, ctx, 'cert', 'key'), ALWAYS);

function credentials(defaultUser: string) {
  return z
    .strictObject(
      {
        username: roleName.default(defaultUser),
        password: secret.optional(),
        password_file: secretSource.optional(),
        password_env: secretSource.optional(),
      },
      { error: 'a mapping' },
    )
    .prefault({});
}

const etcdSchema = z
  .strictObject(
    {
      hosts: z
        .array(hostPort, { error: 'a list of host:port (etcd client endpoints)' })
        .min(1, { error: 'a non-empty list of host:port (etcd client endpoints)' }),
      username: nonEmpty.optional(),
      password: secret.optional(),
      password_file: secretSource.optional(),
      password_env: secretSource.optional(),
      tls: tlsFiles.optional(),
    },
    { error: 'a mapping' },
  )
  .superRefine((v, ctx) => pairRequired(v, ctx, 'username', 'password'), ALWAYS)
  .prefault(ABSENT);

const authSchema = z
  .strictObject(
    {
      username: nonEmpty.optional(),
      password: secret.optional(),
      password_file: secretSource.optional(),
      password_env: secretSource.optional(),
      token: secret.optional(),
      token_file: secretSource.optional(),
      token_env: secretSource.optional(),
    },
    { error: 'a mapping' },
  )
  .superRefine((v, ctx) => {
    if (!isPlainObject(v)) return;
    pairRequired(v, ctx, 'username', 'password');
    if (v.username === undefined && v.password === undefined && v.token === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs username and password, or token (or remove restapi.auth)' });
    }
  }, ALWAYS);

const restapiTls = z
  .strictObject(
    { ca: absolutePath.optional(), cert: absolutePath, key: absolutePath, require_client_cert: bool.optional() },
    { error: 'a mapping' },
  )
  .superRefine((v, ctx) => {
    if (isPlainObject(v) && v.require_client_cert === true && v.ca === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ca'], message: 'is required when require_client_cert is true' });
    }
  }, ALWAYS);

const restapiSchema = z
  .strictObject(
    {
      listen: hostPort.default('127.0.0.1:8008'),
      connect_address: hostPort.optional(),
      auth: authSchema.optional(),
      tls: restapiTls.optional(),
      allowlist: z.array(matching('an IP address or CIDR such as 10.0.0.0/8', isIpOrCidr), { error: 'a list of IP addresses or CIDRs' }).optional(),
    },
    { error: 'a mapping' },
  )
  .superRefine((v, ctx) => {
    if (!isPlainObject(v) || v.connect_address !== undefined) return;
    const listen = typeof v.listen === 'string' ? v.listen : '127.0.0.1:8008';
    const hp = parseHostPort(listen);
    if (hp && isWildcard(hp.host)) {
      ctx.addIssue({ code: 'custom', path: ['connect_address'], message: `is required when listen is a wildcard (${listen}); set the host:port peers and HAProxy use` });
    }
  }, ALWAYS)
  .prefault({});

const postgresqlSchema = z
  .strictObject(
    {
      bin_dir: absolutePath.default('/usr/lib/postgresql/15/bin'),
      data_dir: absolutePath,
      listen: matching('a host, "*", or a comma-separated list of hosts (listen_addresses)', isListenAddresses).default('127.0.0.1'),
      connect_address: hostPort.optional(),
      port: port.default(5432),
      superuser: credentials('postgres'),
      replication: credentials('replicator'),
      parameters,
      pg_hba: z
        .array(matching('a single pg_hba.conf line', (s) => s.trim().length > 0 && !/[\r\n]/.test(s)), { error: 'a list of pg_hba.conf lines' })
        .default(() => []),
      keep_old_data_dir: bool.default(true),
      pre_promote: nonEmpty.optional(),
    },
    { error: 'a mapping' },
  )
  .superRefine((v, ctx) => {
    if (!isPlainObject(v) || v.connect_address !== undefined) return;
    const listen = typeof v.listen === 'string' ? v.listen : '127.0.0.1';
    if (!isListenAddresses(listen)) return;
    if (listen.includes(',') || isWildcard(listen.trim())) {
      ctx.addIssue({ code: 'custom', path: ['connect_address'], message: `is required when listen is "${listen}"; set the host:port peers use to reach this PostgreSQL` });
    }
  }, ALWAYS)
  .prefault(ABSENT);

const tagsSchema = z
  .strictObject(
    {
      nofailover: bool.default(false),
      // No default here: whether it was set explicitly matters for the nofailover conflict.
      failover_priority: integer('an integer ≥ 0 (0 = never promote)', 0).optional(),
      noloadbalance: bool.default(false),
      nosync: bool.default(false),
    },
    { error: 'a mapping' },
  )
  .superRefine((v, ctx) => {
    if (!isPlainObject(v)) return;
    if (v.nofailover === true && typeof v.failover_priority === 'number' && v.failover_priority > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['failover_priority'],
        message: `conflicts with tags.nofailover: true (a nofailover member never promotes); remove failover_priority, set it to 0, or set nofailover: false`,
      });
    }
  }, ALWAYS)
  .transform((t) => ({ ...t, failover_priority: t.failover_priority ?? (t.nofailover ? 0 : 1) }))
  .prefault({});

// Patroni's watchdog section. safety_margin: seconds before the lease's ttl by which a watchdog
// device must reset the host (its timeout must be ≤ ttl − safety_margin); -1 = ttl / 2.
const watchdogSchema = z
  .strictObject(
    {
      mode: z.enum(['off', 'automatic', 'required']).default('automatic'),
      device: absolutePath.default('/dev/watchdog'),
      safety_margin: z.union([z.literal(-1), number('a number of seconds ≥ 0, or -1 (timeout = ttl / 2)', 0)], {
        error: 'a number of seconds ≥ 0, or -1 (timeout = ttl / 2)',
      }).default(1),
    },
    { error: 'a mapping' },
  )
  .prefault({});

const staticObject = z.strictObject(
  {
    name,
    scope: name,
    namespace: matching('an etcd key prefix such as /pgwarden (leading /, no trailing /)', (s) => NAMESPACE_RE.test(s)).default('/pgwarden'),
    log: z
      .strictObject(
        {
          level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
          format: z.enum(['json', 'pretty', 'auto']).default('auto'),
        },
        { error: 'a mapping' },
      )
      .prefault({}),
    etcd: etcdSchema,
    restapi: restapiSchema,
    postgresql: postgresqlSchema,
    tags: tagsSchema,
    watchdog: watchdogSchema,
    bootstrap: z.strictObject({ dcs: dynamicConfigSchema.prefault({}) }, { error: 'a mapping' }).prefault({}),
  },
  { error: 'a mapping' },
);

/** Everything in AgentConfig except where it was loaded from (load.ts adds that). */
export type StaticConfig = Omit<AgentConfig, 'config_file'>;

type Parsed = z.output<typeof staticObject>;

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Builds the plain AgentConfig shape: derived addresses filled in, secret sources dropped. */
function toStaticConfig(p: Parsed): StaticConfig {
  const pg = p.postgresql;
  const pgHost = pg.listen.trim();
  const dcs: DynamicConfig = p.bootstrap.dcs;
  return {
    name: p.name,
    scope: p.scope,
    namespace: p.namespace,
    log: p.log,
    etcd: withoutUndefined({ hosts: p.etcd.hosts, username: p.etcd.username, password: p.etcd.password, tls: p.etcd.tls }),
    restapi: withoutUndefined({
      listen: p.restapi.listen,
      connect_address: p.restapi.connect_address ?? p.restapi.listen,
      auth: p.restapi.auth && withoutUndefined({ username: p.restapi.auth.username, password: p.restapi.auth.password, token: p.restapi.auth.token }),
      tls: p.restapi.tls && withoutUndefined(p.restapi.tls),
      allowlist: p.restapi.allowlist,
    }),
    postgresql: {
      bin_dir: pg.bin_dir,
      data_dir: pg.data_dir,
      listen: pg.listen,
      connect_address: pg.connect_address ?? joinHostPort(pgHost, pg.port),
      port: pg.port,
      superuser: withoutUndefined({ username: pg.superuser.username, password: pg.superuser.password }),
      replication: withoutUndefined({ username: pg.replication.username, password: pg.replication.password }),
      parameters: pg.parameters,
      pg_hba: pg.pg_hba,
      keep_old_data_dir: pg.keep_old_data_dir,
      ...(pg.pre_promote ? { pre_promote: pg.pre_promote } : {}),
    },
    tags: p.tags,
    watchdog: p.watchdog,
    bootstrap: { dcs },
  };
}

export const staticConfigSchema = staticObject.transform(toStaticConfig);
