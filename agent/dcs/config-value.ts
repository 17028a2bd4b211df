// The etcd `config` value: dynamic config JSON, validated by the config module's own schema.
import { parseDynamicConfig } from '../config/dynamic.js';
import type { DynamicConfig } from '../config/types.js';
import type { Decoded } from './codec.js';

export function decodeConfig(raw: string, source: string): Decoded<DynamicConfig> {
  let value: unknown;
  try {
    value = JSON.parse(raw) as unknown;
  } catch (e) {
    return { ok: false, reason: `not JSON (${(e as Error).message})` };
  }
  try {
    const parsed = parseDynamicConfig(value, source);
    return parsed.ok ? { ok: true, value: parsed.config } : { ok: false, reason: parsed.errors.join('; ') };
  } catch (e) {
    return { ok: false, reason: `config validation failed: ${String(e)}` };
  }
}

export function encodeConfig(config: DynamicConfig): string {
  return JSON.stringify(config);
}
