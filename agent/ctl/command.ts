// What a ctl command module sees: the global flags, the runner that gives it a context, and the
// registrar shape every module in commands/ exports. Kept apart from index.ts, which lists the
// commands, so the commands do not import the file that imports them.
import type { Argv } from 'yargs';
import type { CtlContext } from './context.js';

/** The flags every ctl command takes (where to find etcd and credentials). */
export interface GlobalArgs {
  readonly config?: string | undefined;
  readonly 'ctl-config'?: string | undefined;
  readonly etcd?: string[] | undefined;
  readonly namespace?: string | undefined;
  readonly scope?: string | undefined;
}

/** Runs a command's body with a context and records its exit code. */
export interface Runner {
  run(argv: GlobalArgs, body: (ctx: CtlContext) => Promise<number | void>, opts?: { scope?: string }): Promise<void>;
}

/** A command module: adds itself (name, flags, handler) to the ctl parser. */
export type CommandRegistrar = (y: Argv<GlobalArgs>, runner: Runner) => Argv<GlobalArgs>;
