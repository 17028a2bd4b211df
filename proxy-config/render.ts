// Renders an HAProxy configuration from a member list. PURE: no I/O, no clock, no environment.
// HAProxy routes by asking each agent's REST API (SPEC §1.1), never PostgreSQL itself:
//   read-write listener → OPTIONS /primary, read-only listener → OPTIONS /replica[?lag=…].
// Same shape as Patroni's haproxy.cfg so operators' configs and runbooks carry over, with tighter
// check timings (a node is taken out after one failed check, sessions to it are cut at once).

export interface HaproxyMember {
  /** Member name (node1…); becomes the HAProxy server name (sanitised). */
  readonly name: string;
  /** PostgreSQL address clients are forwarded to. */
  readonly host: string;
  readonly port: number;
  /** The agent's REST API address, used for health checks. */
  readonly apiHost: string;
  readonly apiPort: number;
  /** The agent's API is served over https (its api_url): health checks use TLS (`check-ssl`). */
  readonly apiTls?: boolean;
}

/** "127.0.0.1:5000", "*:5000", "[::1]:5000", or a bare port number (binds every address). */
export type ListenAddress = string | number;

export interface HealthCheckTiming {
  /** Interval between checks of a server that is up. */
  readonly inter: string;
  /** Interval while a server is changing state (after a failed check, before `fall` is reached). */
  readonly fastinter: string;
  /** Interval between checks of a server that is down. */
  readonly downinter: string;
  /** Failed checks before a server is marked down. */
  readonly fall: number;
  /** Successful checks before a server is marked up. */
  readonly rise: number;
}

export interface RenderHaproxyOptions {
  /** Cluster name; prefixes the listener names (`<scope>_rw`, `<scope>_ro`). */
  readonly scope: string;
  readonly members: readonly HaproxyMember[];
  readonly listen: {
    readonly rw: ListenAddress;
    readonly ro: ListenAddress;
    /** Stats page (HTML at `/`, CSV at `/;csv`); null or absent: no stats listener. */
    readonly stats?: ListenAddress | null;
  };
  /** Only route read-only traffic to replicas within this lag (`/replica?lag=…`), e.g. "16MB". */
  readonly replicaLag?: string;
  /**
   * For members whose API is https: verify the agent's certificate against this CA (`verify
   * required ca-file`; default `verify none`), and present this client certificate (PEM with its
   * key; needed when the agents set restapi.tls.require_client_cert).
   */
  readonly checkTls?: { readonly caFile?: string; readonly certFile?: string };
  /** Global connection limit and per-server limit. Default 1000 and 100. */
  readonly maxconn?: number;
  readonly serverMaxconn?: number;
  /** Check timings; default inter 500ms, fastinter 250ms, downinter 200ms, fall 1, rise 1. */
  readonly check?: Partial<HealthCheckTiming>;
  /** `timeout connect` / `timeout check`; default "1s" each. */
  readonly timeoutConnect?: string;
  readonly timeoutCheck?: string;
  /** `timeout client` / `timeout server` for established sessions; default "30m" each. */
  readonly timeoutClient?: string;
  readonly timeoutServer?: string;
}

export const DEFAULT_CHECK_TIMING: HealthCheckTiming = {
  inter: '500ms',
  fastinter: '250ms',
  // A server marked down is re-checked often so a new primary is routed to within ~0.2 s.
  downinter: '200ms',
  fall: 1,
  rise: 1,
};

/** Thrown for input HAProxy would reject or misread; the message names the field. */
export class HaproxyRenderError extends Error {
  override readonly name = 'HaproxyRenderError';
}

/** HAProxy health-check paths for each listener (exported for tests and docs). */
export function checkPaths(replicaLag?: string): { rw: string; ro: string } {
  return {
    rw: '/primary',
    ro: replicaLag === undefined ? '/replica' : `/replica?lag=${replicaLag}`,
  };
}

/**
 * The validated pieces of a rendered config, ready to print: what the built-in layout is made of
 * and what a `--template` may place (template.ts). Throws HaproxyRenderError like the renderer.
 */
export interface HaproxyParts {
  /** Sanitised scope: listener names are `<scope>_rw`, `<scope>_ro`. */
  readonly scope: string;
  readonly maxconn: number;
  readonly serverMaxconn: number;
  readonly rwBind: string;
  readonly roBind: string;
  /** null: no stats listener. */
  readonly statsBind: string | null;
  readonly rwCheckPath: string;
  readonly roCheckPath: string;
  /** The `default-server …` line. */
  readonly defaultServer: string;
  /** One `server …` line per member, in member order. */
  readonly servers: readonly string[];
  /** Server names, in member order. */
  readonly serverNames: readonly string[];
  readonly timeouts: { readonly connect: string; readonly check: string; readonly client: string; readonly server: string };
  /** The first line: a comment saying where the file comes from. */
  readonly header: string;
}

export function haproxyParts(opts: RenderHaproxyOptions): HaproxyParts {
  const scope = identifier(opts.scope, 'scope');
  const timing: HealthCheckTiming = { ...DEFAULT_CHECK_TIMING, ...opts.check };
  validateTiming(timing);
  const maxconn = positiveInt(opts.maxconn ?? 1000, 'maxconn');
  const serverMaxconn = positiveInt(opts.serverMaxconn ?? 100, 'serverMaxconn');
  if (opts.replicaLag !== undefined && !/^\d+(kB|MB|GB)?$/.test(opts.replicaLag)) {
    throw new HaproxyRenderError(
      `replicaLag: ${JSON.stringify(opts.replicaLag)} is not a size (bytes, or a number with kB, MB, GB)`,
    );
  }
  const paths = checkPaths(opts.replicaLag);
  const servers = serverLines(opts.members, serverMaxconn, checkTlsOptions(opts.checkTls));
  return {
    scope,
    maxconn,
    serverMaxconn,
    rwBind: bindAddress(opts.listen.rw, 'listen.rw'),
    roBind: bindAddress(opts.listen.ro, 'listen.ro'),
    statsBind: opts.listen.stats === undefined || opts.listen.stats === null ? null : bindAddress(opts.listen.stats, 'listen.stats'),
    rwCheckPath: paths.rw,
    roCheckPath: paths.ro,
    defaultServer:
      `default-server inter ${timing.inter} fall ${timing.fall} rise ${timing.rise} ` +
      `fastinter ${timing.fastinter} downinter ${timing.downinter} on-marked-down shutdown-sessions`,
    servers: servers.map((s) => s.line),
    serverNames: servers.map((s) => s.name),
    timeouts: {
      connect: duration(opts.timeoutConnect ?? '1s', 'timeoutConnect'),
      check: duration(opts.timeoutCheck ?? '1s', 'timeoutCheck'),
      client: duration(opts.timeoutClient ?? '30m', 'timeoutClient'),
      server: duration(opts.timeoutServer ?? '30m', 'timeoutServer'),
    },
    header: `# Generated by pgwarden proxy-config for cluster "${opts.scope}". Do not edit: it is re-rendered.`,
  };
}

export function renderHaproxyConfig(opts: RenderHaproxyOptions): string {
  const p = haproxyParts(opts);
  const lines: string[] = [
    p.header,
    'global',
    `    maxconn ${p.maxconn}`,
    '',
    'defaults',
    '    mode tcp',
    '    retries 2',
    `    timeout connect ${p.timeouts.connect}`,
    `    timeout check ${p.timeouts.check}`,
    `    timeout client ${p.timeouts.client}`,
    `    timeout server ${p.timeouts.server}`,
    '',
  ];
  if (p.statsBind !== null) {
    lines.push(
      'listen stats',
      '    mode http',
      `    bind ${p.statsBind}`,
      '    stats enable',
      '    stats uri /',
      '    stats refresh 1s',
      '',
    );
  }
  for (const [suffix, bind, path] of [
    ['rw', p.rwBind, p.rwCheckPath],
    ['ro', p.roBind, p.roCheckPath],
  ] as const) {
    lines.push(
      `listen ${p.scope}_${suffix}`,
      `    bind ${bind}`,
      `    maxconn ${p.maxconn}`,
      // rw: a refused connection fails at once instead of HAProxy's 1 s turn-around before a
      // retry to the same (just demoted) server; the client reconnects and reaches the new one.
      ...(suffix === 'ro' ? ['    balance roundrobin'] : ['    retries 0']),
      `    option httpchk OPTIONS ${path}`,
      '    http-check expect status 200',
      `    ${p.defaultServer}`,
      ...p.servers.map((s) => `    ${s}`),
      '',
    );
  }
  return lines.join('\n');
}

/** The server options for a TLS health check. */
function checkTlsOptions(t: RenderHaproxyOptions['checkTls']): string {
  const ca = t?.caFile === undefined ? null : filePath(t.caFile, 'checkTls.caFile');
  const cert = t?.certFile === undefined ? null : filePath(t.certFile, 'checkTls.certFile');
  return ` check-ssl verify ${ca ? `required ca-file ${ca}` : 'none'}${cert ? ` crt ${cert}` : ''}`;
}

/** A file name HAProxy reads as one word. */
function filePath(value: string, field: string): string {
  if (!/^[^\s#"'\\]+$/.test(value)) throw new HaproxyRenderError(`${field}: ${JSON.stringify(value)} must be a path without spaces, quotes or #`);
  return value;
}

function serverLines(members: readonly HaproxyMember[], serverMaxconn: number, tlsCheck: string): { name: string; line: string }[] {
  const seen = new Set<string>();
  return members.map((m, i) => {
    const field = `members[${i}]`;
    const name = identifier(m.name, `${field}.name`);
    if (seen.has(name)) throw new HaproxyRenderError(`${field}.name: duplicate server name "${name}"`);
    seen.add(name);
    const target = hostPort(m.host, m.port, `${field}.host/port`);
    const apiPort = port(m.apiPort, `${field}.apiPort`);
    host(m.apiHost, `${field}.apiHost`);
    // `check port` reuses the server address; `addr` only when the API listens elsewhere.
    const addr = m.apiHost === m.host ? '' : ` addr ${m.apiHost}`;
    const tls = m.apiTls === true ? tlsCheck : '';
    return { name, line: `server ${name} ${target} maxconn ${serverMaxconn} check${addr} port ${apiPort}${tls}` };
  });
}

const IDENT_RE = /^[A-Za-z0-9_.:-]+$/;

/** HAProxy proxy/server names: letters, digits, "_", ".", ":", "-". Others become "_". */
function identifier(value: string, field: string): string {
  if (value.length === 0) throw new HaproxyRenderError(`${field}: must not be empty`);
  const safe = value.replace(/[^A-Za-z0-9_.:-]/g, '_');
  if (!IDENT_RE.test(safe)) throw new HaproxyRenderError(`${field}: ${JSON.stringify(value)} is not usable as a name`);
  return safe;
}

function host(value: string, field: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(value) || value.length === 0) {
    throw new HaproxyRenderError(`${field}: ${JSON.stringify(value)} is not a host name or IP address`);
  }
  return value;
}

function port(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new HaproxyRenderError(`${field}: ${String(value)} is not a port (1-65535)`);
  }
  return value;
}

function hostPort(h: string, p: number, field: string): string {
  host(h, field);
  port(p, field);
  return h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`;
}

function bindAddress(address: ListenAddress, field: string): string {
  if (typeof address === 'number') return `*:${port(address, field)}`;
  const m = /^(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):(\d{1,5})$/.exec(address);
  if (!m) {
    throw new HaproxyRenderError(`${field}: ${JSON.stringify(address)} is not host:port, *:port or [ipv6]:port`);
  }
  port(Number(m[2]), field);
  return address;
}

function positiveInt(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) throw new HaproxyRenderError(`${field}: ${String(value)} is not a positive integer`);
  return value;
}

/** HAProxy time values: a number with an optional unit (us, ms, s, m, h, d). */
function duration(value: string, field: string): string {
  if (!/^\d+(us|ms|s|m|h|d)?$/.test(value)) {
    throw new HaproxyRenderError(`${field}: ${JSON.stringify(value)} is not a duration (e.g. 500ms, 1s, 30m)`);
  }
  return value;
}

function validateTiming(t: HealthCheckTiming): void {
  duration(t.inter, 'check.inter');
  duration(t.fastinter, 'check.fastinter');
  duration(t.downinter, 'check.downinter');
  positiveInt(t.fall, 'check.fall');
  positiveInt(t.rise, 'check.rise');
}
