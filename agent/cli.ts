#!/usr/bin/env node
// pgwarden's command line: `agent` runs the daemon; `ctl` operates a cluster; `demo` starts a local cluster; `chaos` runs fault scenarios; `bench`
// runs benchmarks; `proxy-config haproxy` renders (with --watch: maintains) an HAProxy config.
// Exit codes: 0 success, 1 operation failed, 2 usage or config error.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError } from './config/errors.js';
import { loadAgentConfig } from './config/load.js';
import { FatalAgentError } from './runtime/errors.js';
import { StartupAborted, StartupError } from './daemon/startup.js';
import { PGWARDEN_VERSION } from './version.js';
import { proxyConfigOptions } from '../proxy-config/options.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function parseSets(sets: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sets ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects key=value, got "${s}"`);
    out[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return out;
}

class UsageError extends Error {}

interface AgentArgs {
  config?: string | undefined;
  set?: string[] | undefined;
  'log-format'?: string | undefined;
}

/** The agent's config: file (or PGWARDEN_CONFIG) < env < --set < --log-format. */
function loadAgentArgs(argv: AgentArgs) {
  const file = argv.config ?? process.env.PGWARDEN_CONFIG;
  return loadAgentConfig({
    ...(file ? { file } : {}),
    overrides: {
      ...parseSets(argv.set),
      ...(argv['log-format'] ? { 'log.format': argv['log-format'] } : {}),
    },
  });
}

async function runAgentCommand(argv: AgentArgs): Promise<number> {
  const cfg = loadAgentArgs(argv);
  const { startAgent } = await import('./daemon/agent.js');
  // SIGHUP: re-read the config file; log.level applies at once (see RunningAgent.reload).
  // Installed before the agent starts: SIGHUP's default action would kill the process.
  let running: Awaited<ReturnType<typeof startAgent>> | null = null;
  process.on('SIGHUP', () => {
    if (running === null) {
      process.stderr.write('pgwarden: SIGHUP ignored: the agent is still starting\n');
      return;
    }
    try {
      running.reload(loadAgentArgs(argv));
    } catch (err) {
      const detail = err instanceof ConfigError ? err.format() : err instanceof Error ? err.message : String(err);
      running.logger.error({ err: detail }, 'SIGHUP: the config file is invalid; keeping the running config');
    }
  });
  // SIGTERM/SIGINT during start-up (waiting for etcd, for the REST port) ends the waits and
  // exits 0; afterwards they stop the agent cleanly.
  const starting = new AbortController();
  let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
  let signalled: NodeJS.Signals | null = null;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (signalled) return;
      signalled = sig;
      if (agent === null) {
        starting.abort();
        return;
      }
      void agent.stop(`received ${sig}`).then(() => process.exit(EXIT.ok));
    });
  }
  try {
    agent = await startAgent(cfg, undefined, { signal: starting.signal });
  } catch (err) {
    if (err instanceof StartupAborted) return EXIT.ok;
    throw err;
  }
  running = agent;
  if (signalled !== null) {
    // The signal came after the last start-up wait: stop what was started.
    await agent.stop(`received ${String(signalled)} during start-up`);
    return EXIT.ok;
  }
  try {
    await agent.done;
  } catch (err) {
    if (err instanceof FatalAgentError) {
      process.stderr.write(`pgwarden: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
  // The loop ended because stop() was called by a signal handler, which exits the process.
  await new Promise(() => undefined);
  return EXIT.ok;
}

export async function main(args: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const parser = yargs(args)
    .scriptName('pgwarden')
    .version(PGWARDEN_VERSION)
    .strict()
    .demandCommand(1, 'name a command')
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg);
    })
    .command('agent', 'run the HA agent for the local PostgreSQL node', (y) => y
      .option('config', { alias: 'c', type: 'string', describe: 'path of pgwarden.yml (or env PGWARDEN_CONFIG)' })
      .option('set', { type: 'string', array: true, describe: 'override a config key: --set postgresql.port=5433' })
      .option('log-format', { type: 'string', choices: ['json', 'pretty', 'auto'], describe: 'log.format: JSON lines, pretty, or auto (pretty on a terminal)' }),
    async (argv) => { code = await runAgentCommand(argv); })
    .command('proxy-config <kind>', 'render an HAProxy config from the members in etcd (--watch: keep it in step and reload)',
      (y) => proxyConfigOptions(y),
      async (argv) => {
        const { runProxyConfig } = await import('../proxy-config/command.js');
        code = await runProxyConfig(argv);
      })
    // `ctl` parses its own arguments (agent/ctl/index.ts): everything after the word goes to it.
    .command('ctl', 'operate a cluster: list, topology, switchover, failover, pause, resume, restart, reinit, reload, history, show-config, edit-config, remove (see pgwarden ctl --help)',
      (y) => y.strict(false).help(false).version(false).parserConfiguration({ 'unknown-options-as-args': true }),
      async () => {
        const { runCtl } = await import('./ctl/index.js');
        code = await runCtl(args.slice(args.indexOf('ctl') + 1));
      })
    .command('demo', 'start a local 3-node demo cluster (etcd, PostgreSQL, agents, HAProxy)', (y) => y
      .option('nodes', { type: 'number', default: 3 })
      .option('run-dir', { type: 'string', describe: 'where to keep data and logs' }),
    async (argv) => {
      const { runDemo } = await import('./local/demo.js');
      code = await runDemo({ nodes: argv.nodes, ...(argv['run-dir'] ? { runDir: argv['run-dir'] } : {}) });
    })
    .command('chaos <action> [scenarios..]', 'run fault scenarios against a local netns cluster and check invariants (chaos list | chaos run SCENARIO… | subset | all)', (y) => y
      .positional('action', { choices: ['run', 'list'] as const, demandOption: true })
      .positional('scenarios', { type: 'string', array: true, default: [] as string[] })
      .option('reps', { type: 'number', default: 1, describe: 'repetitions of each scenario' })
      .option('report', { type: 'string', describe: 'write the full JSON report here' })
      .option('mode', { choices: ['async', 'sync'] as const, default: 'async' as const, describe: 'replication mode of the cluster (sync: no acknowledged write may be lost)' })
      .option('keep', { type: 'boolean', default: false, describe: 'keep run directories even when everything passed' }),
    async (argv) => {
      const { runChaosCommand } = await import('./chaos/command.js');
      code = await runChaosCommand({
        action: argv.action,
        scenarios: (argv.scenarios ?? []).map(String),
        reps: argv.reps,
        mode: argv.mode,
        keep: argv.keep,
        ...(argv.report ? { report: argv.report } : {}),
      });
    })
    .command('bench <name>', 'run a benchmark (failover, soak, switchover, health, routing, sync)', (y) => y
      .positional('name', { choices: ['failover', 'soak', 'switchover', 'sync', 'health', 'routing'] as const, demandOption: true })
      .option('runs', { type: 'number', describe: 'repetitions per fault' })
      .option('seconds', { type: 'number', describe: 'soak duration; sync: each pgbench run (default 60)' }),
    async (argv) => {
      const { runBench } = await import('./local/bench/index.js');
      code = await runBench(argv.name, {
        ...(argv.runs !== undefined ? { runs: argv.runs } : {}),
        ...(argv.seconds !== undefined ? { seconds: argv.seconds } : {}),
      });
    })
    .help();
  await parser.parseAsync();
  return code;
}

main(hideBin(process.argv)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`pgwarden: invalid configuration\n${err.format()}\n`);
      process.exit(EXIT.usage);
    }
    if (err instanceof UsageError) {
      process.stderr.write(`pgwarden: ${err.message}\n(see pgwarden --help)\n`);
      process.exit(EXIT.usage);
    }
    if (err instanceof FatalAgentError) {
      process.stderr.write(`pgwarden: ${err.message}\n`);
      process.exit(EXIT.failed);
    }
    if (err instanceof StartupError) {
      process.stderr.write(`pgwarden: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`pgwarden: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(EXIT.failed);
  },
);
