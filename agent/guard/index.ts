// Building the fence guard from the static config's `watchdog` section (docs/configuration.md):
//   off        no guard: only the agent's own fence timer enforces rule 2
//   automatic  the guard process; it drives the watchdog device too when the device exists
//   required   the guard process and a working watchdog device: without one the agent does not
//              start, and a device that fails later stops it from becoming or staying primary
import { accessSync, constants, existsSync } from 'node:fs';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AgentConfig } from '../config/types.js';
import { ProcessFenceGuard } from './client.js';

export { ProcessFenceGuard, guardProgram, type FeedStats, type GuardClientOptions } from './client.js';

export class WatchdogConfigError extends Error {}

/** The device timeout (s) that still resets the host before a lease of `ttlMs` can expire. */
export function maxDeviceTimeoutS(ttlMs: number, safetyMargin: number): number {
  return safetyMargin === -1 ? ttlMs / 2000 : ttlMs / 1000 - safetyMargin;
}

export interface GuardDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly ttlMs: () => number;
  readonly postmasterPid: () => number | null;
}

/** The device the guard will drive, or null; throws WatchdogConfigError when `required` cannot be met. */
export function resolveDevice(w: AgentConfig['watchdog'], ttlMs: number): string | null {
  if (w.mode === 'off') return null;
  if (w.mode === 'required') {
    if (maxDeviceTimeoutS(ttlMs, w.safety_margin) < 1) {
      throw new WatchdogConfigError(`watchdog.safety_margin ${w.safety_margin} leaves less than 1 s of device timeout with ttl ${ttlMs / 1000} s; lower safety_margin or raise ttl`);
    }
    try {
      accessSync(w.device, constants.W_OK);
    } catch (err) {
      throw new WatchdogConfigError(`watchdog.mode is required but ${w.device} cannot be opened for writing (${(err as NodeJS.ErrnoException).code ?? String(err)}); load softdog (modprobe softdog soft_margin=N with N ≤ ttl − safety_margin) or set watchdog.mode: automatic`);
    }
    return w.device;
  }
  return existsSync(w.device) ? w.device : null;
}

/** Start the guard the config asks for (null for mode off) and wait until it runs. */
export async function startGuard(cfg: Pick<AgentConfig, 'watchdog' | 'postgresql'>, deps: GuardDeps): Promise<ProcessFenceGuard | null> {
  const w = cfg.watchdog;
  if (w.mode === 'off') {
    deps.logger.warn('watchdog.mode is off: a frozen agent cannot fence its PostgreSQL');
    return null;
  }
  const device = resolveDevice(w, deps.ttlMs());
  const guard = new ProcessFenceGuard({
    dataDir: cfg.postgresql.data_dir,
    mode: w.mode,
    device,
    maxDeviceTimeoutS: () => (device ? maxDeviceTimeoutS(deps.ttlMs(), w.safety_margin) : null),
    postmasterPid: deps.postmasterPid,
    clock: deps.clock,
    logger: deps.logger.child({ component: 'guard' }),
  });
  await guard.start();
  return guard;
}
