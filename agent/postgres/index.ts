// Local PostgreSQL adapter (implements runtime/ports.ts PostgresNode).
export { PostgresAdapter, type PostgresAdapterOptions } from './adapter.js';
export { osUserIds } from './users.js';
export type { Owner } from './exec.js';
export { parseControlData, type ControlData } from './controldata.js';
export { parseBasebackupProgress, type BasebackupProgress } from './bootstrap.js';
