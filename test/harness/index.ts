// Test helpers around agent/local (LocalCluster, Writer, sql, waiters) plus vitest fixtures.

export * from '../../agent/local/index.js';
export { withCluster, type WithClusterOptions } from './cluster.js';
