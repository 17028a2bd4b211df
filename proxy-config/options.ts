// Command-line options of `pgwarden proxy-config haproxy` (kept apart from command.ts so the CLI
// can describe them without loading etcd and friends). docs/haproxy.md documents each one.
import type { Argv } from 'yargs';

export interface ProxyConfigArgs {
  readonly kind?: string;
  readonly config?: string | undefined;
  readonly etcd?: readonly string[] | undefined;
  readonly scope?: string | undefined;
  readonly namespace?: string | undefined;
  readonly 'rw-port'?: string | undefined;
  readonly 'ro-port'?: string | undefined;
  readonly 'stats-port'?: string | undefined;
  readonly 'replica-lag'?: string | undefined;
  readonly 'check-ca'?: string | undefined;
  readonly 'check-cert'?: string | undefined;
  readonly template?: string | undefined;
  readonly out?: string | undefined;
  readonly check?: boolean | undefined;
  readonly watch?: boolean | undefined;
  readonly 'reload-cmd'?: string | undefined;
  readonly 'haproxy-pid-file'?: string | undefined;
  readonly 'haproxy-bin'?: string | undefined;
  readonly debounce?: number | undefined;
  readonly resync?: number | undefined;
  readonly timeout?: number | undefined;
  readonly 'allow-empty'?: boolean | undefined;
  readonly 'log-level'?: string | undefined;
  readonly 'log-format'?: string | undefined;
}

export const PROXY_CONFIG_DEFAULTS = {
  rwPort: '5000',
  roPort: '5001',
  statsPort: '7000',
  namespace: '/pgwarden',
  haproxyBin: '/usr/sbin/haproxy',
  debounceMs: 500,
  resyncMs: 30_000,
  timeoutMs: 3_000,
} as const;

export function proxyConfigOptions<T>(y: Argv<T>) {
  const d = PROXY_CONFIG_DEFAULTS;
  return y
    .positional('kind', { choices: ['haproxy'] as const, demandOption: true, describe: 'the proxy to configure' })
    .option('config', { alias: 'c', type: 'string', describe: 'pgwarden.yml to take etcd hosts, namespace and scope from' })
    .option('etcd', { type: 'string', array: true, nargs: 1, describe: 'etcd endpoint host:port (repeat, or comma-separate)' })
    .option('scope', { type: 'string', describe: 'cluster name (overrides the config file)' })
    .option('namespace', { type: 'string', describe: `etcd key prefix (default ${d.namespace})` })
    .option('rw-port', { type: 'string', default: d.rwPort, describe: 'read-write listener: port or host:port' })
    .option('ro-port', { type: 'string', default: d.roPort, describe: 'read-only listener: port or host:port' })
    .option('stats-port', { type: 'string', default: d.statsPort, describe: 'stats listener: port, host:port or "none"' })
    .option('replica-lag', { type: 'string', describe: 'route read-only traffic only to replicas within this lag (e.g. 16MB)' })
    .option('check-ca', { type: 'string', describe: 'agents on https: verify their certificate with this CA file (default: verify none)' })
    .option('check-cert', { type: 'string', describe: 'agents on https: client certificate (PEM with key) for the checks' })
    .option('template', { type: 'string', describe: 'your own config with {{placeholders}} (see docs/haproxy.md)' })
    .option('out', { alias: 'o', type: 'string', describe: 'write here (atomically) instead of stdout' })
    .option('check', { type: 'boolean', default: false, describe: 'validate with haproxy -c before writing --out (always on with --watch)' })
    .option('watch', { type: 'boolean', default: false, describe: 'keep running: re-render, validate and reload HAProxy when members join or leave' })
    .option('reload-cmd', { type: 'string', describe: 'command that reloads HAProxy gracefully, e.g. "systemctl reload haproxy"' })
    .option('haproxy-pid-file', { type: 'string', describe: 'pid file of an HAProxy master (haproxy -W -p FILE): reload with SIGUSR2' })
    .option('haproxy-bin', { type: 'string', default: d.haproxyBin, describe: 'haproxy binary used for validation' })
    .option('debounce', { type: 'number', default: d.debounceMs, describe: 'ms to gather member changes into one re-render' })
    .option('resync', { type: 'number', default: d.resyncMs, describe: 'ms between full re-reads in --watch mode' })
    .option('timeout', { type: 'number', default: d.timeoutMs, describe: 'ms allowed for one etcd read' })
    .option('allow-empty', { type: 'boolean', default: false, describe: 'write a config without servers when no member is registered' })
    .option('log-level', { type: 'string', default: 'info', choices: ['trace', 'debug', 'info', 'warn', 'error'] as const })
    .option('log-format', { type: 'string', default: 'auto', choices: ['json', 'pretty', 'auto'] as const, describe: 'logs go to stderr' });
}
