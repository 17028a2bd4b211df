// SQL plumbing: the one persistent connection used by probes, short-lived connections for actions,
// quoting, and SCRAM verifiers (so a password never travels to the server in clear text).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

export type ConnConfig = pg.ClientConfig;

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(text: string): string {
  if (text.includes('\\')) return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * A SCRAM-SHA-256 verifier, as `ALTER ROLE … PASSWORD` stores it (what libpq's
 * PQencryptPasswordConn produces). Non-ASCII passwords are NFKC-normalized, the main step of
 * SASLprep, which PostgreSQL applies as well.
 */
export function scramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  // eslint-disable-next-line no-control-regex
  const normalized = /^[\x00-\x7f]*$/.test(password) ? password : password.normalize('NFKC');
  const salted = pbkdf2Sync(Buffer.from(normalized, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function closeQuietly(client: pg.Client): void {
  client.end().catch(() => undefined);
}

/**
 * One persistent client for probes. Reconnects on the next call after any error; every query has a
 * server-side statement_timeout and a client-side query_timeout.
 */
export class ProbeConnection {
  #client: pg.Client | null = null;
  #connecting: Promise<pg.Client> | null = null;
  readonly #config: ConnConfig;
  readonly #log: Logger;

  constructor(config: ConnConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
  }

  async #get(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    if (this.#connecting) return this.#connecting;
    const client = new pg.Client(this.#config);
    client.on('error', (err) => {
      this.#log.debug({ err: err.message }, 'probe connection error');
      if (this.#client === client) this.#client = null;
      closeQuietly(client);
    });
    client.on('end', () => {
      if (this.#client === client) this.#client = null;
    });
    this.#connecting = client.connect().then(
      () => {
        this.#client = client;
        return client;
      },
      (err: unknown) => {
        closeQuietly(client);
        throw err;
      },
    ).finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const client = await this.#get();
    try {
      return (await client.query<R>(sql, params)).rows;
    } catch (err) {
      // A timed-out or broken connection is not reused; the next probe opens a fresh one.
      if (this.#client === client) this.#client = null;
      closeQuietly(client);
      throw err;
    }
  }

  close(): void {
    const c = this.#client;
    this.#client = null;
    if (c) closeQuietly(c);
  }
}

/** Open a connection, run `fn`, close it. For actions with their own timeouts. */
export async function withConnection<T>(config: ConnConfig, clock: Clock, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  client.on('error', () => undefined); // surfaced by the pending query instead
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await Promise.race([client.end().catch(() => undefined), new Promise((r) => clock.setTimer(1000, () => r(undefined), { background: true }))]);
  }
}
