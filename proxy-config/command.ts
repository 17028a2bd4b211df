// `pgwarden proxy-config haproxy`: render an HAProxy config from the members in etcd, once (to
// stdout or --out) or continuously (--watch: re-render, validate, install, reload).
// Exit codes: 0 success (or --watch stopped by SIGTERM/SIGINT), 1 operation failed (etcd
// unreachable, HAProxy rejects the config, reload failed), 2 usage or config error.
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { ConfigError } from '../agent/config/errors.js';
import { loadAgentConfig } from '../agent/config/load.js';
import type { TlsFiles } from '../agent/config/types.js';
import { createLogger, type Logger } from '../agent/log.js';
import { etcdMemberSource } from './etcd-source.js';
import { haproxyMembers } from './members.js';
import { PROXY_CONFIG_DEFAULTS, type ProxyConfigArgs } from './options.js';
import { reloadHaproxy, describeReload, type ReloadMethod } from './reload.js';
import { HaproxyRenderError, renderHaproxyConfig, type HaproxyMember, type ListenAddress, type RenderHaproxyOptions } from './render.js';
import { TemplateError, fillTemplate, parseTemplate, type Template } from './template.js';
import { HaproxyWatch, type MemberSource } from './watch.js';
import { installHaproxyConfig } from './write.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface ProxyConfigIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Resolves when the --watch loop should stop (default: SIGTERM or SIGINT). */
  readonly stopSignal?: () => Promise<string>;
  /** Where members come from (default: etcd as configured); tests plug in their own. */
  readonly source?: (s: EtcdSettings, logger: Logger) => MemberSource & { close(): Promise<void> };
  readonly logger?: Logger;
}

const defaultIo: ProxyConfigIo = {
  stdout: (t) => { process.stdout.write(t); },
  stderr: (t) => { process.stderr.write(t); },
};

/** A usage or configuration problem: exit 2 with this message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface EtcdSettings {
  readonly hosts: readonly string[];
  readonly namespace: string;
  readonly scope: string;
  readonly auth?: { username: string; password: string };
  readonly tls?: TlsFiles;
}

/** Where to find the members: --config file, then --etcd / --scope / --namespace on top. */
export function etcdSettings(args: ProxyConfigArgs): EtcdSettings {
  const cfg = args.config ? loadAgentConfig({ file: args.config }) : null;
  const hosts = (args.etcd ?? []).flatMap((h) => h.split(',')).map((h) => h.trim()).filter((h) => h !== '');
  const scope = args.scope ?? cfg?.scope;
  const all = hosts.length > 0 ? hosts : cfg?.etcd.hosts ?? [];
  if (all.length === 0) throw new UsageError('name the etcd endpoints: --etcd host:port, or --config pgwarden.yml');
  if (!scope) throw new UsageError('name the cluster: --scope NAME, or --config pgwarden.yml');
  const auth = cfg?.etcd.username && cfg.etcd.password ? { username: cfg.etcd.username, password: cfg.etcd.password } : undefined;
  return {
    hosts: all,
    namespace: args.namespace ?? cfg?.namespace ?? PROXY_CONFIG_DEFAULTS.namespace,
    scope,
    ...(auth ? { auth } : {}),
    ...(cfg?.etcd.tls ? { tls: cfg.etcd.tls } : {}),
  };
}

/** "5000" → 5000 (every address); "127.0.0.1:5000" as is; "none" → null where allowed. */
export function listenOption(value: string, flag: string, allowNone: boolean): ListenAddress | null {
  const v = value.trim();
  if (allowNone && (v === 'none' || v === 'off')) return null;
  if (/^\d+$/.test(v)) return Number(v);
  if (v === '') throw new UsageError(`${flag} must be a port or host:port`);
  return v;
}

/** Render-option field names → the flag an operator typed, for error messages. */
const FLAG_OF: Readonly<Record<string, string>> = {
  'listen.rw': '--rw-port', 'listen.ro': '--ro-port', 'listen.stats': '--stats-port', replicaLag: '--replica-lag', scope: '--scope',
  'checkTls.caFile': '--check-ca', 'checkTls.certFile': '--check-cert',
};

function flagMessage(message: string): string {
  const m = /^([A-Za-z.]+): (.*)$/s.exec(message);
  const flag = m ? FLAG_OF[m[1]!] : undefined;
  return flag ? `${flag}: ${m![2]}` : message;
}

export type Renderer = (members: readonly HaproxyMember[]) => string;

/** The render function for these options, checked once with no members (bad flags fail early). */
export function buildRenderer(args: ProxyConfigArgs, scope: string, template: Template | null): Renderer {
  const d = PROXY_CONFIG_DEFAULTS;
  const stats = listenOption(args['stats-port'] ?? d.statsPort, '--stats-port', true);
  const base: Omit<RenderHaproxyOptions, 'members'> = {
    scope,
    listen: {
      rw: listenOption(args['rw-port'] ?? d.rwPort, '--rw-port', false)!,
      ro: listenOption(args['ro-port'] ?? d.roPort, '--ro-port', false)!,
      stats,
    },
    ...(args['replica-lag'] !== undefined ? { replicaLag: args['replica-lag'] } : {}),
    ...(args['check-ca'] !== undefined || args['check-cert'] !== undefined
      ? { checkTls: { ...(args['check-ca'] !== undefined ? { caFile: args['check-ca'] } : {}), ...(args['check-cert'] !== undefined ? { certFile: args['check-cert'] } : {}) } }
      : {}),
  };
  const render: Renderer = (members) => (template ? fillTemplate(template, { ...base, members }) : renderHaproxyConfig({ ...base, members }));
  try {
    render([]);
  } catch (err) {
    if (err instanceof HaproxyRenderError || err instanceof TemplateError) throw new UsageError(flagMessage(err.message));
    throw err;
  }
  return render;
}

export function reloadMethod(args: ProxyConfigArgs): ReloadMethod {
  const cmd = args['reload-cmd'];
  const pidFile = args['haproxy-pid-file'];
  if (cmd !== undefined && pidFile !== undefined) throw new UsageError('give --reload-cmd or --haproxy-pid-file, not both');
  if (cmd !== undefined) {
    if (cmd.trim() === '') throw new UsageError('--reload-cmd must not be empty');
    return { kind: 'command', command: cmd };
  }
  return pidFile !== undefined ? { kind: 'pidfile', pidFile } : { kind: 'none' };
}

async function loadTemplate(file: string): Promise<Template> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--template: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return parseTemplate(text, file);
  } catch (err) {
    if (err instanceof TemplateError) throw new UsageError(`--template: ${err.message}`);
    throw err;
  }
}

/**
 * Resolves on the first SIGTERM or SIGINT. The listeners stay installed, so a second signal while
 * the watch stops does not kill the process half-way (the default action).
 */
function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
}

/** Run the command; resolves with the exit code. Never rejects for expected failures. */
export async function runProxyConfig(args: ProxyConfigArgs, io: ProxyConfigIo = defaultIo): Promise<number> {
  try {
    return await run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`pgwarden proxy-config: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      io.stderr(`pgwarden proxy-config: invalid configuration\n${err.format()}\n`);
      return EXIT.usage;
    }
    throw err;
  }
}

async function run(args: ProxyConfigArgs, io: ProxyConfigIo): Promise<number> {
  if (args.kind !== undefined && args.kind !== 'haproxy') throw new UsageError(`unknown proxy ${JSON.stringify(args.kind)} (only haproxy)`);
  // Everything that can be checked without etcd is checked first.
  const template = args.template !== undefined ? await loadTemplate(args.template) : null;
  const settings = etcdSettings(args);
  const render = buildRenderer(args, settings.scope, template);
  const reload = reloadMethod(args);
  const haproxyBin = args['haproxy-bin'] ?? PROXY_CONFIG_DEFAULTS.haproxyBin;
  const validate = args.watch === true || args.check === true;
  if (args.watch && args.out === undefined) throw new UsageError('--watch needs --out FILE (the config HAProxy reads)');
  if (args.out === undefined && (reload.kind !== 'none' || args.check)) {
    throw new UsageError('--check, --reload-cmd and --haproxy-pid-file need --out FILE');
  }
  if (validate) {
    await access(haproxyBin, constants.X_OK).catch(() => {
      throw new UsageError(`cannot run ${haproxyBin} to validate the config (install HAProxy or give --haproxy-bin)`);
    });
  }
  const timeoutMs = args.timeout ?? PROXY_CONFIG_DEFAULTS.timeoutMs;
  if (!(timeoutMs > 0)) throw new UsageError('--timeout must be a positive number of milliseconds');

  const logger = io.logger ?? createLogger({
    level: args['log-level'] ?? 'info',
    format: (args['log-format'] ?? 'auto') as 'json' | 'pretty' | 'auto',
    stderr: true,
    name: 'proxy-config',
  });
  const source = io.source
    ? io.source(settings, logger)
    : etcdMemberSource({ ...settings, timeoutMs, logger });
  try {
    if (args.watch) {
      logger.info({ reload: describeReload(reload) }, 'reload method');
      const watch = await HaproxyWatch.start({
        source, render, out: args.out!, validate: true, haproxyBin, reload,
        debounceMs: args.debounce ?? PROXY_CONFIG_DEFAULTS.debounceMs,
        resyncMs: args.resync ?? PROXY_CONFIG_DEFAULTS.resyncMs,
        allowEmpty: args['allow-empty'] === true,
        logger,
      });
      const onHup = () => { logger.info('SIGHUP: re-reading the members'); watch.resync(); };
      process.on('SIGHUP', onHup);
      const sig = await (io.stopSignal ?? waitForStopSignal)();
      process.off('SIGHUP', onHup);
      logger.info({ signal: sig }, 'stopping');
      await watch.stop();
      return EXIT.ok;
    }
    return await once(args, io, { source, render, reload, haproxyBin, validate, logger });
  } finally {
    await source.close().catch(() => undefined);
  }
}

async function once(
  args: ProxyConfigArgs,
  io: ProxyConfigIo,
  c: { source: MemberSource; render: Renderer; reload: ReloadMethod; haproxyBin: string; validate: boolean; logger: Logger },
): Promise<number> {
  const fail = (message: string): number => {
    io.stderr(`pgwarden proxy-config: ${message}\n`);
    return EXIT.failed;
  };
  let records;
  try {
    records = await c.source.read();
  } catch (err) {
    return fail(`cannot read members from ${c.source.where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const mapped = haproxyMembers(records);
  for (const s of mapped.skipped) c.logger.warn({ member: s.name }, `member ${s.name} left out: ${s.reason}`);
  if (mapped.members.length === 0 && args['allow-empty'] !== true) {
    return fail(`no member registered under ${c.source.where} (wrong --scope or --namespace?); --allow-empty renders a config without servers`);
  }
  let text: string;
  try {
    text = c.render(mapped.members);
  } catch (err) {
    return fail(`cannot render the config: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (args.out === undefined) {
    io.stdout(text);
    return EXIT.ok;
  }
  const res = await installHaproxyConfig(args.out, text, { validate: c.validate, haproxyBin: c.haproxyBin }).catch((err: unknown) => err as Error);
  if (res instanceof Error) return fail(`cannot write ${args.out}: ${res.message}`);
  if (res.status === 'rejected') return fail(`HAProxy rejects the new config; ${args.out} left as it was:\n${res.output}`);
  const names = mapped.members.map((m) => m.name).join(', ');
  c.logger.info({ out: args.out, status: res.status }, `${res.status === 'written' ? 'wrote' : 'unchanged:'} ${args.out} (${names})`);
  if (res.status === 'written' && c.reload.kind !== 'none') {
    const r = await reloadHaproxy(c.reload);
    if (!r.ok) return fail(`HAProxy reload failed: ${r.message}`);
    c.logger.info({ how: r.message }, 'HAProxy reloaded');
  }
  return EXIT.ok;
}
