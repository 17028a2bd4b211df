// Checks every configured credential against the local server while it runs, over TCP at the
// address peers use (connect_address), exactly as a peer's pg_rewind (superuser) or a replica's
// walreceiver and pg_basebackup (replication role) would log in. A wrong password used to go
// unnoticed until a failover needed pg_rewind. Secrets never appear in a result or a log line.
import type { Clock } from '../clock.js';
import { parseHostPort } from '../config/formats.js';
import type { AgentConfig } from '../config/types.js';
import type { CredentialError } from '../core/types.js';
import type { Logger } from '../log.js';
import { withConnection, type ConnConfig } from './sql.js';

/** How often the credentials are checked again while the server runs. */
export const CREDENTIAL_CHECK_EVERY_MS = 60_000;

/** PostgreSQL's message without anything that could carry a secret (it never echoes passwords). */
function cleanMessage(err: unknown, secrets: readonly string[]): string {
  let text = err instanceof Error ? err.message : String(err);
  for (const s of secrets) if (s) text = text.split(s).join('***');
  return text.slice(0, 300);
}

export class CredentialChecker {
  readonly #pg: AgentConfig['postgresql'];
  readonly #log: Logger;
  readonly #clock: Clock;
  #errors: readonly CredentialError[] = [];
  #lastKey: string | null = null;
  #checkedAt: number | null = null;
  #checkedPid: number | null = null;
  #running: Promise<void> | null = null;

  constructor(pg: AgentConfig['postgresql'], log: Logger, clock: Clock) {
    this.#pg = pg;
    this.#log = log;
    this.#clock = clock;
  }

  /** The last result (empty: every credential was accepted, or none checked yet). */
  get errors(): readonly CredentialError[] {
    return this.#errors;
  }

  /**
   * Start a check in the background when one is due: for a postmaster not checked yet, or every
   * CREDENTIAL_CHECK_EVERY_MS. Never waits for it (the probe stays one round trip).
   */
  maybeCheck(postmasterPid: number): void {
    if (this.#running) return;
    const now = this.#clock.now();
    if (this.#checkedPid === postmasterPid && this.#checkedAt !== null && now - this.#checkedAt < CREDENTIAL_CHECK_EVERY_MS) return;
    this.#checkedPid = postmasterPid;
    this.#checkedAt = now;
    this.#running = this.check().finally(() => { this.#running = null; });
  }

  /** Check now; resolves once the result is recorded (and logged if it changed). */
  async check(): Promise<void> {
    const addr = parseHostPort(this.#pg.connect_address) ?? { host: '127.0.0.1', port: this.#pg.port };
    const secrets = [this.#pg.superuser.password ?? '', this.#pg.replication.password ?? ''];
    const base: ConnConfig = {
      host: addr.host, port: addr.port, database: 'postgres', application_name: 'pgwarden_credential_check',
      connectionTimeoutMillis: 3000, query_timeout: 3000,
    };
    const attempts: { credential: string; username: string; password: string | undefined; config: ConnConfig }[] = [
      { credential: 'superuser', username: this.#pg.superuser.username, password: this.#pg.superuser.password, config: {} },
      // A physical replication connection, like a walreceiver's or pg_basebackup's.
      { credential: 'replication', username: this.#pg.replication.username, password: this.#pg.replication.password, config: { replication: 'true' } as ConnConfig },
    ];
    const errors: CredentialError[] = [];
    for (const a of attempts) {
      // Without a password, pgwarden admits the role over the local socket only (pg_hba): nothing to check.
      if (!a.password) continue;
      try {
        await withConnection({ ...base, ...a.config, user: a.username, password: a.password }, this.#clock, async (client) => {
          await client.query(a.credential === 'replication' ? 'IDENTIFY_SYSTEM' : 'SELECT 1');
        });
      } catch (err) {
        errors.push({ credential: a.credential, username: a.username, error: cleanMessage(err, secrets) });
      }
    }
    this.#errors = errors;
    const key = JSON.stringify(errors);
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    if (errors.length === 0) {
      this.#log.info({ credentials: attempts.filter((a) => a.password).map((a) => a.credential) }, 'configured credentials accepted by the local server');
      return;
    }
    for (const e of errors) {
      this.#log.error({ credential: e.credential, username: e.username, err: e.error, address: `${addr.host}:${addr.port}` },
        `the local PostgreSQL refuses the configured ${e.credential} credential (role ${e.username}): ${e.error}; ` +
        `${e.credential === 'superuser' ? 'peers cannot pg_rewind from this node' : 'replicas cannot stream or clone from this node'} until postgresql.${e.credential}.password is fixed`);
    }
  }
}
