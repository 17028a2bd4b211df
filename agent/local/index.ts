// LocalCluster and its building blocks (used by `pgwarden demo`, `pgwarden chaos` and the tests).
export {
  LocalCluster, DEFAULT_BASE_DIR, findRepoDir,
  type LocalClusterOptions, type LocalClusterState, type LocalClusterTimeouts, type LocalNode, type NodeRef, type HaproxyPorts,
  type AgentStatus, type ApiResponse, type UnexpectedExit,
} from './cluster.js';
export { waitFor, deadline, WaitTimeoutError, WaitAbortedError, type WaitOptions } from './wait.js';
export { reapStale, type ReapResult } from './reap.js';
export { allocatePorts } from './ports.js';
export { agentConfigDocument, renderAgentConfig, type AgentConfigInput, type LocalCredentials } from './agent-config.js';
export { type EtcdctlResult } from './etcd.js';
export { fetchHaproxyServers, parseHaproxyCsv, type HaproxyServerState } from './haproxy.js';
export { Writer, type WriterOptions, type WriterReport, type Ack, type Failure, type Gap, type VerifyResult } from './writer.js';
export { sql, endQuietly, type SqlOptions } from './sql.js';
export { renderMemberTable, type MemberRow } from './member-table.js';
