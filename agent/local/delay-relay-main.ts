// The delay relay as a process (`node delay-relay-main.js <config.json>`), started by the harness
// inside a node's network namespace (see delay-relay.ts and LocalCluster's `latencyRelay`).
//   config.json   { routes: RelayRoute[], portsFile, delayFile }
//   portsFile     written (atomically) once every listener is up: RelayListener[]
//   delayFile     { delayMs, jitterMs }: read at start and on every SIGHUP
// Exits on SIGTERM/SIGINT; the harness also starts it under `setpriv --pdeathsig KILL`.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { DelayRelay, type RelayDelay, type RelayRoute } from './delay-relay.js';

interface RelayConfig {
  readonly routes: RelayRoute[];
  readonly portsFile: string;
  readonly delayFile: string;
}

function say(msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...extra })}\n`);
}

function readDelay(file: string): RelayDelay {
  try {
    const d = JSON.parse(readFileSync(file, 'utf8')) as Partial<RelayDelay>;
    return { delayMs: Number(d.delayMs ?? 0), jitterMs: Number(d.jitterMs ?? 0) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { delayMs: 0, jitterMs: 0 };
    throw err;
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: delay-relay-main.js <config.json>');
  const config = JSON.parse(readFileSync(file, 'utf8')) as RelayConfig;
  const relay = new DelayRelay({ onError: (label, err) => say('connection error', { route: label, error: err.message }) });
  relay.setDelay(readDelay(config.delayFile));
  process.on('SIGHUP', () => {
    try {
      relay.setDelay(readDelay(config.delayFile));
      say('delay set', { ...relay.delay });
    } catch (err) {
      say('bad delay file; delay unchanged', { error: (err as Error).message, ...relay.delay });
    }
  });
  const stop = () => {
    void relay.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const listeners = await relay.listen(config.routes);
  writeFileSync(`${config.portsFile}.tmp`, JSON.stringify(listeners));
  renameSync(`${config.portsFile}.tmp`, config.portsFile);
  say('relay listening', { listeners, ...relay.delay });
}

main().catch((err: unknown) => {
  say('relay failed', { error: (err as Error).message });
  process.exit(1);
});
