// The configuration the agent manages in the data dir: postgresql.conf (ours, with initdb's
// original kept as postgresql.base.conf) and pg_hba.conf, rendered from the node's settings,
// the upstream to follow, synchronous_standby_names and whether replicas use slots.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Upstream } from '../ports/ports.js';
import { BASE_CONF, CONF_MARKER, parseSynchronousStandbyNames, parseUpstream, renderHba, renderPostgresqlConf } from './conf.js';
import type { Owner } from './exec.js';
import { exists, isInitialized, readTextIfExists, writeOwnedFile } from './fsutil.js';
import type { PgLayout } from './layout.js';

export class ManagedConf {
  /** Upstream written in our conf; undefined until read from disk. */
  upstream: Upstream | null | undefined = undefined;
  /** Whether replicas stream through a slot (dynamic config use_slots). */
  useSlots = true;
  /** Cluster-wide parameters (dynamic config postgresql.parameters); the node's own win over them. */
  clusterParameters: Readonly<Record<string, string | number | boolean>> = {};
  /** synchronous_standby_names we manage; null until read from our postgresql.conf. */
  ssn: string | null = null;
  readonly #warned = new Set<string>();
  readonly #name: string;
  readonly #pg: AgentConfig['postgresql'];
  readonly #layout: PgLayout;
  readonly #owner: Owner | null;
  readonly #log: Logger;

  constructor(name: string, pg: AgentConfig['postgresql'], layout: PgLayout, owner: Owner | null, log: Logger) {
    this.#name = name;
    this.#pg = pg;
    this.#layout = layout;
    this.#owner = owner;
    this.#log = log;
  }

  #warnOnce(messages: readonly string[]): void {
    for (const m of messages) {
      if (this.#warned.has(m)) continue;
      this.#warned.add(m);
      this.#log.warn(m);
    }
  }

  async requireInitialized(): Promise<void> {
    if (!(await isInitialized(this.#layout.dataDir))) throw new Error(`data dir ${this.#layout.dataDir} is not initialized`);
  }

  async currentUpstream(): Promise<Upstream | null> {
    if (this.upstream === undefined) {
      const text = await readTextIfExists(path.join(this.#layout.dataDir, 'postgresql.conf'));
      this.upstream = text && text.startsWith(CONF_MARKER) ? parseUpstream(text) : null;
    }
    return this.upstream;
  }

  /** (Re)write postgresql.conf and pg_hba.conf; initdb's original conf is kept as postgresql.base.conf. */
  async write(): Promise<void> {
    await this.requireInitialized();
    await this.#layout.ensureRunDir();
    const dataDir = this.#layout.dataDir;
    const conf = path.join(dataDir, 'postgresql.conf');
    const base = path.join(dataDir, BASE_CONF);
    const current = await readTextIfExists(conf);
    const ours = current !== null && current.startsWith(CONF_MARKER);
    if (!(await exists(base))) {
      if (current !== null && !ours) {
        await fs.rename(conf, base);
      } else {
        this.#log.warn(`${BASE_CONF} is missing; writing an empty one`);
        await writeOwnedFile(base, '# initdb\'s postgresql.conf was missing when pgwarden took over\n', 0o600, this.#owner);
      }
    } else if (current !== null && !ours) {
      this.#log.warn({ file: conf }, 'postgresql.conf was replaced by something else; pgwarden rewrites it (settings belong in postgresql.parameters)');
    }
    const upstream = await this.currentUpstream();
    // Keep what the last run managed until the HA loop says otherwise: a primary restarted in
    // synchronous mode must not acknowledge commits asynchronously in between (rule 5).
    this.ssn ??= current !== null && ours ? parseSynchronousStandbyNames(current) : '';
    const rendered = renderPostgresqlConf({
      name: this.#name, pg: this.#pg, socketDir: this.#layout.runDir, passfile: this.#layout.passfile, upstream,
      synchronousStandbyNames: this.ssn,
      useSlots: this.useSlots,
      clusterParameters: this.clusterParameters,
    });
    const hba = renderHba(this.#pg);
    this.#warnOnce([...rendered.warnings, ...hba.warnings]);
    await writeOwnedFile(conf, rendered.text, 0o600, this.#owner);
    await writeOwnedFile(path.join(dataDir, 'pg_hba.conf'), hba.text, 0o600, this.#owner);
  }
}
