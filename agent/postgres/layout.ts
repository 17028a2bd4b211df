// Where a node's PostgreSQL lives and the files around it the agent owns: the data dir, the
// private run dir (unix socket, passfile), the postmaster's log file, and how to connect locally.
import { accessSync, constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from '../config/types.js';
import { fnv1a } from '../core/slots.js';
import type { Logger } from '../log.js';
import { renderPgpass } from './conf.js';
import type { Owner } from './exec.js';
import { chownTo, mkdirOwned, removeIfExists, writeOwnedFile } from './fsutil.js';
import type { ConnConfig } from './sql.js';

/** Nearest existing ancestor of `p` (p itself included). */
function nearestExisting(p: string): string {
  let cur = p;
  for (;;) {
    try {
      accessSync(cur, constants.F_OK);
      return cur;
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return cur;
      cur = up;
    }
  }
}

function canWriteUnder(p: string): boolean {
  try {
    accessSync(nearestExisting(p), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export class PgLayout {
  readonly dataDir: string;
  /** Private 0700 directory of the unix socket and the passfile (short path for the socket). */
  readonly runDir: string;
  readonly #pg: AgentConfig['postgresql'];
  readonly #owner: Owner | null;
  readonly #log: Logger;
  readonly #logFileOption: string | undefined;
  #logFile: string | null = null;

  constructor(pg: AgentConfig['postgresql'], owner: Owner | null, log: Logger, logFileOption: string | undefined, uid: number) {
    this.#pg = pg;
    this.#owner = owner;
    this.#log = log;
    this.#logFileOption = logFileOption;
    this.dataDir = path.resolve(pg.data_dir);
    const sibling = `${this.dataDir}.run`;
    const fits = Buffer.byteLength(`${sibling}/.s.PGSQL.${pg.port}.lock`) < 100;
    this.runDir = fits && (uid === 0 || canWriteUnder(path.dirname(this.dataDir)))
      ? sibling
      : `/tmp/pgwarden-${owner?.uid ?? uid}-${fnv1a(this.dataDir)}`;
  }

  /** Unix-socket connection to the local server as the superuser (trust over the 0700 socket). */
  localConnection(): ConnConfig {
    return {
      host: this.runDir,
      port: this.#pg.port,
      user: this.#pg.superuser.username,
      ...(this.#pg.superuser.password ? { password: this.#pg.superuser.password } : {}),
      database: 'postgres',
      application_name: 'pgwarden',
    };
  }

  /** The local connection for an action, with its statement timeout. */
  actionConnection(statementTimeoutMs: number): ConnConfig {
    return {
      ...this.localConnection(),
      connectionTimeoutMillis: 2000,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 2000,
    };
  }

  /** The postmaster's log file (resolved at the first start). */
  get logFile(): string {
    return this.#logFile ?? this.#logFileOption ?? `${this.dataDir}.postgresql.log`;
  }

  get passfile(): string | null {
    const any = this.#pg.superuser.password || this.#pg.replication.password;
    return any ? path.join(this.runDir, 'pgpass') : null;
  }

  async logSize(): Promise<number> {
    return fs.stat(this.logFile).then((st) => st.size, () => 0);
  }

  /** Every existing ancestor of `dir` must let the PostgreSQL OS user through. */
  async checkTraversable(dir: string): Promise<void> {
    if (!this.#owner) return;
    const { uid, gid } = this.#owner;
    const parts = path.resolve(dir).split(path.sep).filter(Boolean);
    let cur = '/';
    for (const part of ['', ...parts]) {
      cur = part ? path.join(cur, part) : cur;
      const st = await fs.stat(cur).catch(() => null);
      if (!st) return;
      const ok = st.uid === uid ? (st.mode & 0o100) !== 0 : st.gid === gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
      if (!ok) throw new Error(`the PostgreSQL OS user (uid ${uid}) cannot enter ${cur}; chown or chmod it`);
    }
  }

  /** An empty data dir (an existing one may be a mount point): 0700, owned by the OS user. */
  async prepareEmptyDataDir(): Promise<void> {
    await mkdirOwned(this.dataDir, 0o700, this.#owner);
    await fs.chmod(this.dataDir, 0o700);
    await chownTo(this.dataDir, this.#owner);
  }

  async ensureRunDir(): Promise<void> {
    await mkdirOwned(this.runDir, 0o700, this.#owner);
    const st = await fs.lstat(this.runDir);
    const want = this.#owner?.uid ?? process.getuid?.();
    if (!st.isDirectory() || st.uid !== want) {
      throw new Error(`${this.runDir} must be a directory owned by uid ${want} (refusing a foreign or linked path)`);
    }
    if ((st.mode & 0o777) !== 0o700) await fs.chmod(this.runDir, 0o700);
    const pgpass = renderPgpass([this.#pg.replication, this.#pg.superuser]);
    if (pgpass) await writeOwnedFile(path.join(this.runDir, 'pgpass'), pgpass, 0o600, this.#owner);
    else await removeIfExists(path.join(this.runDir, 'pgpass'));
  }

  async writeStandbySignal(): Promise<void> {
    await writeOwnedFile(path.join(this.dataDir, 'standby.signal'), '', 0o600, this.#owner);
    await removeIfExists(path.join(this.dataDir, 'recovery.signal'));
  }

  async resolveLogFile(): Promise<string> {
    if (this.#logFile) return this.#logFile;
    const candidates = this.#logFileOption
      ? [this.#logFileOption]
      : [`${this.dataDir}.postgresql.log`, path.join(this.dataDir, 'pgwarden.postgresql.log')];
    for (const c of candidates) {
      try {
        const h = await fs.open(c, 'a', 0o640);
        await h.close();
        if (this.#owner) await fs.chown(c, this.#owner.uid, this.#owner.gid);
        this.#logFile = c;
        return c;
      } catch (err) {
        this.#log.warn({ file: c, err: (err as Error).message }, 'cannot write the postgres log file here');
      }
    }
    throw new Error(`no writable postgres log file among ${candidates.join(', ')}`);
  }
}
