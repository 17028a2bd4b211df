// LocalCluster and its building blocks (used by `pgwarden demo`, `pgwarden chaos` and the tests).
export {
  LocalCluster, DEFAULT_BASE_DIR, findRepoDir,
  type LocalClusterOptions, type LocalClusterTimeouts, type LocalNode, type NodeRef, type HaproxyPorts,
  type AgentStatus, type ApiResponse, type UnexpectedExit,
} from './cluster.js';
export { waitFor, deadline, WaitTimeoutError, WaitAbortedError, type WaitOptions } from './wait.js';
export { reapStale, type ReapResult } from './reap.js';
export { allocatePorts } from './ports.js';
export { agentConfigDocument, renderAgentConfig, type AgentConfigInput, type LocalCredentials } from './agent-config.js';
export { type EtcdctlResult } from './etcd.js';
export { fetchHaproxyServers, parseHaproxyCsv, type HaproxyServerState } from './haproxy.js';
