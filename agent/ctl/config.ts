// Where `pgwarden ctl` finds etcd, the cluster and the agents' credentials. Layers, later wins:
//   1. the agent's own pgwarden.yml   (-c/--config, or env PGWARDEN_CONFIG when no ctl file is found)
//   2. the ctl config file            (--ctl-config, env PGWARDEN_CTL_CONFIG, or ~/.config/pgwarden/ctl.yml)
//   3. PGWARDEN_CTL_* environment variables
//   4. flags (--etcd, --namespace, --scope)
// The ctl file uses the same keys as pgwarden.yml (a subset), so one can be cut from the other:
//   namespace, scope, etcd {hosts, username, password*, tls {ca, cert, key}},
//   restapi {auth {username, password*, token*}, tls {ca, cert, key}}
// (* also as password_file / password_env, token_file / token_env).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import { isHostPort } from '../config/formats.js';
import { loadAgentConfig } from '../config/load.js';
import { resolveSecrets } from '../config/secrets.js';
import type { TlsFiles } from '../config/types.js';
import { readYamlFile } from '../config/yaml-file.js';
import { CtlUsageError } from './io.js';

export interface CtlConfig {
  readonly etcd: {
    readonly hosts: readonly string[];
    readonly username?: string;
    readonly password?: string;
    readonly tls?: TlsFiles;
  };
  readonly namespace: string;
  /** The cluster; commands that act on one need it (or take it as an argument). */
  readonly scope: string | null;
  /** Credentials for the agents' mutating endpoints. */
  readonly auth: { readonly username?: string; readonly password?: string; readonly token?: string } | null;
  /** `ca` verifies the agents' certificates; `cert`/`key` are presented when they require one. */
  readonly tls: TlsFiles | null;
  /** Where the values came from, for messages ("~/.config/pgwarden/ctl.yml", "env", …). */
  readonly sources: readonly string[];
}

export interface CtlConfigFlags {
  /** -c: the agent's pgwarden.yml. */
  readonly config?: string | undefined;
  readonly ctlConfig?: string | undefined;
  readonly etcd?: readonly string[] | undefined;
  readonly namespace?: string | undefined;
  readonly scope?: string | undefined;
}

export const DEFAULT_CTL_CONFIG = join('.config', 'pgwarden', 'ctl.yml');

/** The PGWARDEN_CTL_* variables and the key each sets. */
export const CTL_ENV: Readonly<Record<string, string>> = {
  PGWARDEN_CTL_CONFIG: '(path of the ctl config file)',
  PGWARDEN_CTL_ETCD_HOSTS: 'etcd.hosts (comma-separated host:port)',
  PGWARDEN_CTL_ETCD_USERNAME: 'etcd.username',
  PGWARDEN_CTL_ETCD_PASSWORD: 'etcd.password',
  PGWARDEN_CTL_ETCD_CACERT: 'etcd.tls.ca',
  PGWARDEN_CTL_NAMESPACE: 'namespace',
  PGWARDEN_CTL_SCOPE: 'scope',
  PGWARDEN_CTL_USERNAME: 'restapi.auth.username',
  PGWARDEN_CTL_PASSWORD: 'restapi.auth.password',
  PGWARDEN_CTL_TOKEN: 'restapi.auth.token',
  PGWARDEN_CTL_CACERT: 'restapi.tls.ca',
  PGWARDEN_CTL_CERT: 'restapi.tls.cert',
  PGWARDEN_CTL_KEY: 'restapi.tls.key',
};

const str = z.string({ error: 'a string' }).min(1, { error: 'a non-empty string' });
const tlsFiles = z.strictObject({ ca: str.optional(), cert: str.optional(), key: str.optional() }, { error: 'a mapping' });

const ctlFileSchema = z.strictObject({
  namespace: str.optional(),
  scope: str.optional(),
  etcd: z.strictObject({
    hosts: z.array(str.refine(isEtcdHost, { error: 'host:port or http(s)://host:port' }), { error: 'a list of host:port' }).optional(),
    username: str.optional(),
    password: str.optional(),
    tls: tlsFiles.optional(),
  }, { error: 'a mapping' }).optional(),
  restapi: z.strictObject({
    auth: z.strictObject({ username: str.optional(), password: str.optional(), token: str.optional() }, { error: 'a mapping' }).optional(),
    tls: tlsFiles.optional(),
  }, { error: 'a mapping' }).optional(),
}, { error: 'a mapping' });

type CtlFile = z.infer<typeof ctlFileSchema>;

function isEtcdHost(s: string): boolean {
  return isHostPort(s.replace(/^https?:\/\//i, '').replace(/\/+$/, ''));
}

interface Draft {
  hosts?: string[];
  etcdUser?: string;
  etcdPassword?: string;
  etcdTls?: TlsFiles;
  namespace?: string;
  scope?: string;
  username?: string;
  password?: string;
  token?: string;
  tls?: TlsFiles;
}

/** Resolve the layers into one config. Throws CtlUsageError / ConfigError (exit 2) on problems. */
export function resolveCtlConfig(flags: CtlConfigFlags, env: NodeJS.ProcessEnv, homeDir: string): CtlConfig {
  checkCtlEnv(env);
  const draft: Draft = {};
  const sources: string[] = [];

  const explicitCtl = flags.ctlConfig ?? env.PGWARDEN_CTL_CONFIG;
  const defaultCtl = join(homeDir, DEFAULT_CTL_CONFIG);
  const ctlFile = explicitCtl !== undefined ? resolve(explicitCtl) : existsSync(defaultCtl) ? defaultCtl : null;
  if (explicitCtl !== undefined && !existsSync(ctlFile!)) {
    throw new CtlUsageError(`ctl config file ${ctlFile} does not exist`);
  }
  const agentFile = flags.config ?? (ctlFile === null ? env.PGWARDEN_CONFIG : undefined);

  if (agentFile !== undefined) {
    applyAgentFile(draft, agentFile, env);
    sources.push(agentFile);
  }
  if (ctlFile !== null) {
    applyCtlFile(draft, readCtlFile(ctlFile, env));
    sources.push(ctlFile);
  }
  if (applyEnv(draft, env)) sources.push('PGWARDEN_CTL_* environment');
  if (flags.etcd && flags.etcd.length > 0) draft.hosts = splitHosts(flags.etcd);
  if (flags.namespace !== undefined) draft.namespace = flags.namespace;
  if (flags.scope !== undefined) draft.scope = flags.scope;

  if (!draft.hosts || draft.hosts.length === 0) {
    throw new CtlUsageError(
      'no etcd hosts: give --etcd host:port, set PGWARDEN_CTL_ETCD_HOSTS, write them in a ctl config file ' +
      `(${join('~', DEFAULT_CTL_CONFIG)} or --ctl-config), or point -c at an agent's pgwarden.yml`,
    );
  }
  const bad = draft.hosts.filter((h) => !isEtcdHost(h));
  if (bad.length > 0) throw new CtlUsageError(`etcd hosts must be host:port, got ${bad.map((h) => JSON.stringify(h)).join(', ')}`);
  if ((draft.etcdUser === undefined) !== (draft.etcdPassword === undefined)) {
    throw new CtlUsageError('etcd username and password go together: give both or neither');
  }
  if (draft.username !== undefined && draft.password === undefined) {
    throw new CtlUsageError('restapi.auth.username is set but there is no password (PGWARDEN_CTL_PASSWORD or restapi.auth.password)');
  }
  const auth = draft.token !== undefined || draft.password !== undefined
    ? {
      ...(draft.username !== undefined && draft.password !== undefined ? { username: draft.username, password: draft.password } : {}),
      ...(draft.token !== undefined ? { token: draft.token } : {}),
    }
    : null;
  return {
    etcd: {
      hosts: draft.hosts,
      ...(draft.etcdUser !== undefined && draft.etcdPassword !== undefined ? { username: draft.etcdUser, password: draft.etcdPassword } : {}),
      ...(draft.etcdTls ? { tls: draft.etcdTls } : {}),
    },
    namespace: draft.namespace ?? '/pgwarden',
    scope: draft.scope ?? null,
    auth,
    tls: draft.tls ?? null,
    sources,
  };
}

function checkCtlEnv(env: NodeJS.ProcessEnv): void {
  const unknown = Object.keys(env).filter((k) => k.startsWith('PGWARDEN_CTL_') && env[k] !== undefined && !(k in CTL_ENV));
  if (unknown.length > 0) {
    throw new CtlUsageError(`unknown environment variable ${unknown.join(', ')} (known: ${Object.keys(CTL_ENV).join(', ')})`);
  }
}

function applyAgentFile(d: Draft, file: string, env: NodeJS.ProcessEnv): void {
  // The agent's loader rejects PGWARDEN_* variables it does not know, ours included.
  const agentEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('PGWARDEN_CTL_') && k !== 'PGWARDEN_CONFIG'));
  const cfg = loadAgentConfig({ file, env: agentEnv });
  d.hosts = [...cfg.etcd.hosts];
  if (cfg.etcd.username !== undefined) d.etcdUser = cfg.etcd.username;
  if (cfg.etcd.password !== undefined) d.etcdPassword = cfg.etcd.password;
  if (cfg.etcd.tls) d.etcdTls = { ...cfg.etcd.tls };
  d.namespace = cfg.namespace;
  d.scope = cfg.scope;
  const a = cfg.restapi.auth;
  if (a?.username !== undefined) d.username = a.username;
  if (a?.password !== undefined) d.password = a.password;
  if (a?.token !== undefined) d.token = a.token;
  const t = cfg.restapi.tls;
  if (t) {
    // Its CA verifies the other agents' certificates; its own pair serves as a client certificate
    // when the agents require one.
    d.tls = {
      ...(t.ca !== undefined ? { ca: t.ca } : {}),
      ...(t.require_client_cert === true && t.cert !== undefined && t.key !== undefined ? { cert: t.cert, key: t.key } : {}),
    };
  }
}

export function readCtlFile(file: string, env: NodeJS.ProcessEnv): CtlFile {
  const yaml = readYamlFile(file);
  const raw = yaml.value;
  const problems: ConfigProblem[] = [];
  resolveSecrets(raw, { env, baseDir: dirname(resolve(file)) }, (path, message) => {
    problems.push({ file, keyPath: path.join('.'), message });
  });
  const parsed = ctlFileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const keyPath = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) problems.push({ file, keyPath: keyPath ? `${keyPath}.${k}` : k, message: 'unknown key' });
      } else {
        const line = yaml.lineOf(issue.path as (string | number)[]);
        problems.push({ file, keyPath, message: `must be ${issue.message}`, ...(line !== undefined ? { line } : {}) });
      }
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}

function applyCtlFile(d: Draft, f: CtlFile): void {
  if (f.namespace !== undefined) d.namespace = f.namespace;
  if (f.scope !== undefined) d.scope = f.scope;
  if (f.etcd?.hosts !== undefined) d.hosts = [...f.etcd.hosts];
  if (f.etcd?.username !== undefined) d.etcdUser = f.etcd.username;
  if (f.etcd?.password !== undefined) d.etcdPassword = f.etcd.password;
  if (f.etcd?.tls !== undefined) d.etcdTls = compact(f.etcd.tls);
  const a = f.restapi?.auth;
  if (a?.username !== undefined) d.username = a.username;
  if (a?.password !== undefined) d.password = a.password;
  if (a?.token !== undefined) d.token = a.token;
  if (f.restapi?.tls !== undefined) d.tls = compact(f.restapi.tls);
}

function applyEnv(d: Draft, env: NodeJS.ProcessEnv): boolean {
  const get = (k: string): string | undefined => (env[k] !== undefined && env[k] !== '' ? env[k] : undefined);
  let any = false;
  const set = (k: string, apply: (v: string) => void): void => {
    const v = get(k);
    if (v !== undefined) {
      apply(v);
      any = true;
    }
  };
  set('PGWARDEN_CTL_ETCD_HOSTS', (v) => { d.hosts = splitHosts([v]); });
  set('PGWARDEN_CTL_ETCD_USERNAME', (v) => { d.etcdUser = v; });
  set('PGWARDEN_CTL_ETCD_PASSWORD', (v) => { d.etcdPassword = v; });
  set('PGWARDEN_CTL_ETCD_CACERT', (v) => { d.etcdTls = { ...d.etcdTls, ca: v }; });
  set('PGWARDEN_CTL_NAMESPACE', (v) => { d.namespace = v; });
  set('PGWARDEN_CTL_SCOPE', (v) => { d.scope = v; });
  set('PGWARDEN_CTL_USERNAME', (v) => { d.username = v; });
  set('PGWARDEN_CTL_PASSWORD', (v) => { d.password = v; });
  set('PGWARDEN_CTL_TOKEN', (v) => { d.token = v; });
  set('PGWARDEN_CTL_CACERT', (v) => { d.tls = { ...d.tls, ca: v }; });
  set('PGWARDEN_CTL_CERT', (v) => { d.tls = { ...d.tls, cert: v }; });
  set('PGWARDEN_CTL_KEY', (v) => { d.tls = { ...d.tls, key: v }; });
  return any;
}

function splitHosts(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((h) => h.trim()).filter((h) => h.length > 0);
}

function compact(t: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined }): TlsFiles {
  return {
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.cert !== undefined ? { cert: t.cert } : {}),
    ...(t.key !== undefined ? { key: t.key } : {}),
  };
}

/** The cluster a command acts on: its argument, else the configured scope. */
export function requireScope(cfg: CtlConfig, given?: string): string {
  const scope = given ?? cfg.scope;
  if (scope === null || scope === undefined || scope === '') {
    throw new CtlUsageError('which cluster? give --scope, set PGWARDEN_CTL_SCOPE, or put scope: in the ctl config file');
  }
  return scope;
}
