// `pgwarden ctl`: operator commands. They read the cluster from etcd (members, leader, config,
// history) and act through the agents' REST APIs (switchover, restart, PATCH /config…).
// Exit codes (SPEC §4): 0 success, 1 the operation failed or was declined, 2 usage or config error.
import yargs, { type Argv } from 'yargs';
import { ConfigError } from '../config/errors.js';
import { resolveCtlConfig, requireScope, type CtlConfig } from './config.js';
import { CtlEtcd, type ClusterSource } from './etcd.js';
import { HttpAgentApi, type AgentApi } from './http.js';
import { CtlFailure, CtlUsageError, EXIT, processIo, type CtlIo } from './io.js';
import { editConfigCommand } from './commands/edit-config.js';
import { failoverCommand } from './commands/failover.js';
import { historyCommand } from './commands/history.js';
import { listCommand } from './commands/list.js';
import { pauseCommand } from './commands/pause.js';
import { reinitCommand } from './commands/reinit.js';
import { reloadCommand } from './commands/reload.js';
import { removeCommand } from './commands/remove.js';
import { restartCommand } from './commands/restart.js';
import { resumeCommand } from './commands/resume.js';
import { showConfigCommand } from './commands/show-config.js';
import { switchoverCommand } from './commands/switchover.js';
import { topologyCommand } from './commands/topology.js';
import type { CommandRegistrar, GlobalArgs, Runner } from './command.js';

/** Seams for tests: fake etcd and agent APIs. */
export interface CtlDeps {
  readonly makeEtcd?: (cfg: CtlConfig, scope: string, io: CtlIo) => ClusterSource;
  readonly makeApi?: (cfg: CtlConfig) => AgentApi;
}

const COMMANDS: readonly CommandRegistrar[] = [
  listCommand, topologyCommand, switchoverCommand, failoverCommand, pauseCommand, resumeCommand, restartCommand,
  reinitCommand, reloadCommand, historyCommand, showConfigCommand, editConfigCommand, removeCommand,
];

export async function runCtl(args: readonly string[], io: CtlIo = processIo(), deps: CtlDeps = {}): Promise<number> {
  let code: number = EXIT.ok;
  const runner: Runner = {
    async run(argv, body, opts = {}) {
      const cfg = resolveCtlConfig({
        config: argv.config, ctlConfig: argv['ctl-config'], etcd: argv.etcd, namespace: argv.namespace, scope: argv.scope,
      }, io.env, io.homeDir);
      const scope = requireScope(cfg, opts.scope);
      const etcd = deps.makeEtcd ? deps.makeEtcd(cfg, scope, io) : new CtlEtcd(cfg, scope, io.stderr);
      try {
        const api = deps.makeApi ? deps.makeApi(cfg) : new HttpAgentApi(cfg);
        const r = await body({ io, cfg, scope, etcd, api });
        code = typeof r === 'number' ? r : EXIT.ok;
      } finally {
        etcd.close();
      }
    },
  };

  let parser: Argv<GlobalArgs> = yargs([...args])
    .scriptName('pgwarden ctl')
    .usage('$0 <command> [options]\n\nOperate a pgwarden cluster: state from etcd, actions through the agents\' REST APIs.')
    .option('config', { alias: 'c', type: 'string', describe: 'the agent\'s pgwarden.yml (etcd, scope and credentials from it)' })
    .option('ctl-config', { type: 'string', describe: 'ctl config file (default ~/.config/pgwarden/ctl.yml; env PGWARDEN_CTL_CONFIG)' })
    // nargs 1: `--etcd HOST list` must not read the command word as a second host (repeat the
    // flag or comma-separate for several).
    .option('etcd', { type: 'string', array: true, nargs: 1, describe: 'etcd host:port (repeat, or comma-separated)' })
    .option('namespace', { type: 'string', describe: 'etcd key prefix root (default /pgwarden)' })
    .option('scope', { type: 'string', describe: 'the cluster name' })
    .strict()
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .exitProcess(false)
    .fail((msg, err) => {
      // Errors thrown by handlers keep their class (and exit code); yargs' own complaints
      // (unknown flag, failed check) are usage errors.
      if (err instanceof Error) throw err;
      throw new CtlUsageError(msg || String(err));
    })
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100));
  for (const register of COMMANDS) parser = register(parser, runner);

  try {
    await parser.parseAsync();
    return code;
  } catch (err) {
    return reportError(io, err);
  }
}

/** Print an error the way an operator wants to read it and pick the exit code. */
function reportError(io: CtlIo, err: unknown): number {
  if (err instanceof CtlUsageError) {
    io.stderr.write(`pgwarden ctl: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof ConfigError) {
    io.stderr.write(`pgwarden ctl: invalid configuration\n${err.format()}\n`);
    return EXIT.usage;
  }
  if (err instanceof CtlFailure) {
    io.stderr.write(`pgwarden ctl: ${err.message}\n`);
    return EXIT.failed;
  }
  io.stderr.write(`pgwarden ctl: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  return EXIT.failed;
}
