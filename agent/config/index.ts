// Public API of agent/config.
export type { AgentConfig, DynamicConfig, RoleCredentials, StaticTags, TlsFiles } from './types.js';
export { DEFAULT_DYNAMIC_CONFIG } from './types.js';
export { ConfigError, formatProblem, type ConfigProblem } from './errors.js';
export { loadAgentConfig, type LoadOptions } from './load.js';
export { ENV_MAP } from './env.js';
export { parseDynamicConfig, mergeDynamicPatch, applyMergePatch, toHaSettings, type DynamicResult } from './dynamic.js';
export { redactConfig, REDACTED } from './redact.js';
export { staticConfigSchema } from './schema.js';
export { dynamicConfigSchema, timingViolation } from './dynamic-schema.js';
export { MANAGED_PARAMETERS } from './schema-parts.js';
