// HTTPS for the REST API (`restapi.tls`): certificate and key files, an optional CA, and an
// optional client-certificate requirement. The files are re-read on SIGHUP (reloadTls), so a
// renewed certificate takes effect without a restart; connections already open keep the old one.
import { readFileSync } from 'node:fs';
import type { SecureContextOptions, Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';

/** `restapi.tls` as the agent's config holds it (absolute paths). */
export interface ApiTls {
  readonly cert: string;
  readonly key: string;
  /** Trusted roots for client certificates. */
  readonly ca?: string;
  /** Refuse TLS connections without a client certificate signed by `ca` (every endpoint). */
  readonly require_client_cert?: boolean;
}

export interface HttpsOptions extends SecureContextOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(`restapi.tls.${what}: cannot read ${JSON.stringify(path)}: ${code}`);
  }
}

/** The PEM material, read now. Throws with the key path and file on an unreadable file. */
export function readTlsFiles(tls: ApiTls): SecureContextOptions {
  return {
    cert: read(tls.cert, 'cert'),
    key: read(tls.key, 'key'),
    ...(tls.ca !== undefined ? { ca: read(tls.ca, 'ca') } : {}),
  };
}

/** Options for fastify's `https`. */
export function httpsOptions(tls: ApiTls): HttpsOptions {
  const required = tls.require_client_cert === true;
  return { ...readTlsFiles(tls), requestCert: required, rejectUnauthorized: required };
}

/**
 * Re-read the certificate, key and CA and install them for new connections. Throws (and keeps
 * the context in force) when a file cannot be read or does not hold a usable key pair.
 */
export function reloadTls(app: FastifyInstance, tls: ApiTls): void {
  const server = app.server as unknown as Partial<TlsServer>;
  if (typeof server.setSecureContext !== 'function') {
    throw new Error('the REST API was started without TLS; enabling restapi.tls needs a restart');
  }
  server.setSecureContext(readTlsFiles(tls));
}

/** `restapi.tls` from the agent's config → ApiTls (undefined without a cert and key). */
export function apiTlsFromConfig(
  tls: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined; require_client_cert?: boolean | undefined } | undefined,
): ApiTls | undefined {
  if (tls?.cert === undefined || tls.key === undefined) return undefined;
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.require_client_cert !== undefined ? { require_client_cert: tls.require_client_cert } : {}),
  };
}
