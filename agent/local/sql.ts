// One-shot SQL with deadlines on every step (connect, query, close).
import pg from 'pg';

export interface SqlOptions {
  /** Whole call: connect + query. Default 5 s. */
  timeoutMs?: number;
  /** Connect only. Default: timeoutMs. */
  connectTimeoutMs?: number;
}

/** Runs one statement on a fresh connection and closes it. Resolves the rows. */
export async function sql<R extends Record<string, unknown> = Record<string, unknown>>(
  connString: string,
  query: string,
  params: readonly unknown[] = [],
  opts: SqlOptions = {},
): Promise<R[]> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const client = new pg.Client({
    connectionString: connString,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: 'pgwarden-test',
  });
  // A connection that dies later (server killed) emits 'error'; without a listener that would crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const res = await client.query<R>(query, params as unknown[]);
    return res.rows;
  } finally {
    await endQuietly(client, 1000);
  }
}

/** client.end(), bounded: a connection to a frozen or vanished server may never finish closing. */
export async function endQuietly(client: pg.Client, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        // Drop the socket so nothing lingers.
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
        resolve();
      }, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}
