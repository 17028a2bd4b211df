// Pure rendering of the files pgwarden owns in the data dir: postgresql.conf, pg_hba.conf, the
// passfile, and libpq conninfo strings. No I/O here, so all of it is unit-tested.
import type { AgentConfig } from '../config/types.js';
import type { Upstream } from '../ports/ports.js';
import { slotNameFor } from '../core/slots.js';

export type PgSettings = AgentConfig['postgresql'];
type GucValue = string | number | boolean;

export const CONF_MARKER = '# Managed by pgwarden';
export const UPSTREAM_PREFIX = '# pgwarden upstream: ';
export const UPSTREAM_ADDRESS_PREFIX = '# pgwarden upstream-address: ';
export const BASE_CONF = 'postgresql.base.conf';

/** Settings pgwarden always writes; a user value is ignored (with a warning). */
const MANAGED = new Set([
  'listen_addresses', 'port', 'unix_socket_directories', 'primary_conninfo', 'primary_slot_name',
  'data_directory', 'hba_file', 'config_file', 'synchronous_standby_names',
]);
/** Settings replication cannot work without: at least this value. */
const MINIMUMS: Record<string, number> = { max_wal_senders: 10, max_replication_slots: 10 };

/** A GUC string literal for postgresql.conf ('…' with '' and \\ escaped). */
export function quoteGuc(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export function renderGucValue(v: GucValue): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number') return String(v);
  return quoteGuc(v);
}

/** One libpq conninfo value: bare when safe, else single-quoted with \ and ' escaped. */
export function conninfoValue(v: string | number): string {
  const s = String(v);
  if (/^[^\s'\\=]+$/.test(s)) return s;
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function buildConninfo(fields: Readonly<Record<string, string | number | undefined>>): string {
  return Object.entries(fields)
    .filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== '')
    .map(([k, v]) => `${k}=${conninfoValue(v)}`)
    .join(' ');
}

function pgpassField(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** ~/.pgpass-format lines (any host/port/db) for the roles that have a password; '' if none. */
export function renderPgpass(roles: readonly { username: string; password?: string | undefined }[]): string {
  return roles
    .filter((r) => r.password !== undefined && r.password !== '')
    .map((r) => `*:*:*:${pgpassField(r.username)}:${pgpassField(r.password!)}\n`)
    .join('');
}

export interface ConfInput {
  readonly name: string;
  readonly pg: PgSettings;
  /** Directory of the unix socket (short path). */
  readonly socketDir: string;
  /** Passfile for primary_conninfo, or null when the replication role has no password. */
  readonly passfile: string | null;
  /** Where this node streams from; null renders no primary_conninfo. */
  readonly upstream: Upstream | null;
  /** synchronous_standby_names as the HA loop manages it ('' = asynchronous). */
  readonly synchronousStandbyNames: string;
  /** Stream through a physical slot named after this member (dynamic config use_slots). */
  readonly useSlots?: boolean;
  /**
   * Cluster-wide parameters (dynamic config `postgresql.parameters`, set with `ctl edit-config`).
   * The node's own `postgresql.parameters` (pgwarden.yml) win over them, name by name.
   */
  readonly clusterParameters?: Readonly<Record<string, GucValue>>;
}

/**
 * The parameters in force: cluster-wide ones first, the node's own over them (names compared
 * case-insensitively, as PostgreSQL does). Each entry names where it came from, for warnings.
 */
export function mergeParameters(
  cluster: Readonly<Record<string, GucValue>>, local: Readonly<Record<string, GucValue>>,
): Map<string, { value: GucValue; from: string }> {
  const merged = new Map<string, { value: GucValue; from: string }>();
  for (const [k, v] of Object.entries(cluster)) merged.set(k.toLowerCase(), { value: v, from: `dynamic config postgresql.parameters.${k}` });
  for (const [k, v] of Object.entries(local)) merged.set(k.toLowerCase(), { value: v, from: `postgresql.parameters.${k}` });
  return merged;
}

export interface Rendered {
  readonly text: string;
  readonly warnings: string[];
}

function asNumber(v: GucValue): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return Number(v);
  return null;
}

/** The primary_conninfo for streaming from `up`. The password comes from the passfile. */
export function primaryConninfo(input: ConfInput, up: Upstream): string {
  return buildConninfo({
    host: up.host,
    port: up.port,
    user: input.pg.replication.username,
    application_name: input.name,
    passfile: input.passfile ?? undefined,
    connect_timeout: 5,
  });
}

/** postgresql.conf: initdb's original first (include), then pgwarden's settings, then the user's. */
export function renderPostgresqlConf(input: ConfInput): Rendered {
  const warnings: string[] = [];
  const settings = new Map<string, GucValue>([
    ['cluster_name', input.name],
    ['wal_level', 'replica'],
    ['hot_standby', true],
    ['max_wal_senders', 10],
    ['max_replication_slots', 10],
    ['wal_log_hints', true],
    ['hot_standby_feedback', true],
    ['wal_keep_size', '128MB'],
    ['wal_receiver_status_interval', '1s'],
    // Standbys answer every second (above), so a walsender that hears nothing for 5 s is talking to
    // a standby that is gone (a silent partition): end it, and a synchronous standby is replaced
    // within a cycle instead of holding commits for PostgreSQL's default 60 s. Users may override.
    ['wal_sender_timeout', '5s'],
    ['wal_retrieve_retry_interval', '500ms'],
    ['recovery_target_timeline', 'latest'],
    ['unix_socket_permissions', '0700'],
  ]);
  for (const [key, { value, from }] of mergeParameters(input.clusterParameters ?? {}, input.pg.parameters)) {
    if (MANAGED.has(key)) {
      warnings.push(`${from} is managed by pgwarden and ignored`);
      continue;
    }
    const min = MINIMUMS[key];
    if (min !== undefined) {
      const n = asNumber(value);
      if (n === null || n < min) {
        warnings.push(`${from}=${String(value)} raised to ${min} (replication needs it)`);
        settings.set(key, min);
        continue;
      }
    }
    if (key === 'wal_level' && !['replica', 'logical'].includes(String(value).toLowerCase())) {
      warnings.push(`${from}=${String(value)} replaced by replica (replication needs it)`);
      continue;
    }
    if ((key === 'hot_standby' || key === 'wal_log_hints') && !['on', 'true', '1', 'yes'].includes(String(value).toLowerCase())) {
      warnings.push(`${from}=${String(value)} ignored: pgwarden needs it on (probes of standbys, pg_rewind)`);
      continue;
    }
    settings.set(key, value);
  }
  settings.set('listen_addresses', input.pg.listen);
  settings.set('port', input.pg.port);
  settings.set('unix_socket_directories', input.socketDir);
  settings.set('synchronous_standby_names', input.synchronousStandbyNames);

  const lines = [
    `${CONF_MARKER}: rewritten before every start. Set parameters with pgwarden ctl edit-config (cluster-wide)`,
    '# or in pgwarden.yml postgresql.parameters (this node; wins over the cluster-wide value);',
    '# settings later in this file win over earlier ones, and postgresql.auto.conf wins over this file.',
    `include ${quoteGuc(BASE_CONF)}`,
    '',
  ];
  for (const [k, v] of settings) lines.push(`${k} = ${renderGucValue(v)}`);
  lines.push('', '# recovery (used when standby.signal is present)');
  lines.push(`primary_slot_name = ${quoteGuc(input.useSlots === false ? '' : slotNameFor(input.name))}`);
  if (input.upstream) {
    lines.push(`${UPSTREAM_PREFIX}${input.upstream.name}`);
    lines.push(`${UPSTREAM_ADDRESS_PREFIX}${input.upstream.host}:${input.upstream.port}`);
    lines.push(`primary_conninfo = ${quoteGuc(primaryConninfo(input, input.upstream))}`);
  } else {
    lines.push("primary_conninfo = ''");
  }
  return { text: `${lines.join('\n')}\n`, warnings };
}

/** The synchronous_standby_names in a postgresql.conf we wrote ('' when absent). */
export function parseSynchronousStandbyNames(confText: string): string {
  const m = /^synchronous_standby_names = '((?:[^']|'')*)'$/m.exec(confText);
  return m ? m[1]!.replace(/''/g, "'") : '';
}

/** The upstream recorded in a postgresql.conf we wrote, or null. */
export function parseUpstream(confText: string): Upstream | null {
  let name: string | null = null;
  let address: string | null = null;
  for (const line of confText.split('\n')) {
    if (line.startsWith(UPSTREAM_PREFIX)) name = line.slice(UPSTREAM_PREFIX.length).trim();
    else if (line.startsWith(UPSTREAM_ADDRESS_PREFIX)) address = line.slice(UPSTREAM_ADDRESS_PREFIX.length).trim();
  }
  if (!name || !address) return null;
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) return null;
  return { name, host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port };
}

/** A pg_hba.conf role token: always double-quoted so keywords and odd names stay names. */
function hbaRole(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * pg_hba.conf, written whole: the operator's lines first, then pgwarden's.
 *
 * `trust` only over the unix socket. A role with a password gets scram-sha-256 from any address;
 * a role without one gets no network access from pgwarden (an explicit `reject`): an operator
 * who authenticates it otherwise (client certificates, a VPN range with `scram`…) adds lines
 * with postgresql.pg_hba, which come first. It used to be `trust` from any address.
 */
export function renderHba(pg: PgSettings): Rendered {
  const warnings: string[] = [];
  const hostLine = (role: 'replication' | 'superuser'): string => {
    const creds = role === 'replication' ? pg.replication : pg.superuser;
    const database = role === 'replication' ? 'replication' : 'all        ';
    if (creds.password) return `host    ${database}  ${hbaRole(creds.username)}  all  scram-sha-256`;
    const key = `postgresql.${role}.password`;
    warnings.push(
      `no password for the ${role} role ${JSON.stringify(creds.username)} (${key}): it may connect only over the local socket; ` +
      `${role === 'replication' ? 'replicas on other hosts cannot stream or clone' : 'peers cannot pg_rewind from this node'} ` +
      `unless ${key} is set or postgresql.pg_hba admits them another way`);
    return `host    ${database}  ${hbaRole(creds.username)}  all  reject  # no ${key}: no trust over the network`;
  };
  const lines = [
    `${CONF_MARKER}: rewritten before every start. Add lines with postgresql.pg_hba in pgwarden.yml.`,
    ...pg.pg_hba,
    '# pgwarden: the unix socket is mode 0700 in a 0700 directory, so only the PostgreSQL OS user',
    '# (and root) can reach it. Over the network: scram-sha-256 for a role with a password, never trust.',
    'local   all          all                        trust',
    'local   replication  all                        trust',
    hostLine('replication'),
    hostLine('superuser'),
  ];
  return { text: `${lines.join('\n')}\n`, warnings };
}
