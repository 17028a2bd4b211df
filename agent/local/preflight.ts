// Before a LocalCluster starts anything: are the programs there, is the agent built, and (as
// root) can the agents' OS user run node, read the repository and reach the run directory?
import { accessSync, constants, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_BASE_DIR } from './cluster-types.js';
import { findSetpriv, resolveUser, type EventLog, type RunAs } from './supervisor.js';

export interface PreflightInput {
  readonly bins: { etcd: string; etcdctl: string; haproxy: string };
  readonly haproxy: boolean;
  readonly agentCount: number;
  readonly pgBinDir: string;
  /** dist/agent/cli.js */
  readonly cli: string;
  readonly repoDir: string;
  readonly runDir: string;
  readonly runAsUser: string;
  readonly log: EventLog;
}

/** Throws when something is missing; returns the agents' OS user when the harness is root. */
export function preflight(p: PreflightInput): RunAs | null {
  const need = (path: string, what: string) => {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new Error(`${what} not found at ${path} (run deploy/install-deps.sh as root)`);
    }
  };
  need(p.bins.etcd, 'etcd');
  need(p.bins.etcdctl, 'etcdctl');
  if (p.haproxy) need(p.bins.haproxy, 'HAProxy');
  if (p.agentCount === 0) return null;
  need(join(p.pgBinDir, 'postgres'), 'PostgreSQL');
  if (!existsSync(p.cli)) {
    throw new Error(`the agent is not built: ${p.cli} is missing (run npm run build in ${p.repoDir})`);
  }
  if (process.getuid?.() !== 0) return null;
  const runAs = resolveUser(p.runAsUser);
  if (!findSetpriv()) p.log.warn({}, 'setpriv with --pdeathsig not found: children are not killed by the kernel if the harness dies');
  checkAccessAs(runAs, p);
  return runAs;
}

/** As the agents' user: can it run node, read the repository and reach the run directory? */
function checkAccessAs(runAs: RunAs, p: PreflightInput): void {
  const script = [
    "const fs = require('fs'); const [r, x] = JSON.parse(process.argv[1]); const bad = [];",
    'for (const p of r) { try { fs.accessSync(p, fs.constants.R_OK); } catch { bad.push(`read ${p}`); } }',
    'for (const p of x) { try { fs.accessSync(p, fs.constants.X_OK); } catch { bad.push(`enter ${p}`); } }',
    "if (bad.length) { console.log(bad.join('\\n')); process.exit(3); }",
  ].join('\n');
  const readable = [p.cli, join(p.repoDir, 'package.json'), join(p.repoDir, 'node_modules', 'pino', 'package.json')];
  const enterable = [p.runDir];
  const setpriv = findSetpriv();
  const args = ['-e', script, JSON.stringify([readable, enterable])];
  // (node dirs are created and chowned to the user afterwards)
  const r = setpriv
    ? spawnSync(setpriv, ['--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--init-groups', '--', process.execPath, ...args], { encoding: 'utf8', timeout: 15_000 })
    : spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 15_000, uid: runAs.uid, gid: runAs.gid });
  if (r.status === 0) return;
  if (r.status === 3) {
    const problems = r.stdout.trim().split('\n');
    const hints = [
      ...(problems.some((x) => x.startsWith('read ')) ? [`make the repository readable by it (chmod -R o+rX ${p.repoDir}, and o+x on its parent directories)`] : []),
      ...(problems.some((x) => x.startsWith('enter ')) ? [`use a baseDir it can reach (default ${DEFAULT_BASE_DIR})`] : []),
    ];
    throw new Error(
      `the agents run as OS user "${runAs.user}" (PostgreSQL refuses root), which cannot:\n  ` +
        `${problems.join('\n  ')}\nFix: ${hints.join('; ')}.`,
    );
  }
  throw new Error(
    `cannot run ${process.execPath} as OS user "${runAs.user}" (status ${String(r.status)}): ` +
      `${(r.stderr || r.error?.message || '').trim()}. The node binary and its directories must be executable by "${runAs.user}".`,
  );
}
