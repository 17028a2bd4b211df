// Test helpers around agent/local: the cluster fixture, a writer with a history, one-shot SQL,
// waiters with deadlines.
export * from '../../agent/local/index.js';
export { withCluster, type WithClusterOptions } from './cluster.js';
export { Writer, type WriterOptions, type WriterReport, type Ack, type Failure, type Gap, type VerifyResult } from './writer.js';
export { sql, endQuietly, type SqlOptions } from './sql.js';
