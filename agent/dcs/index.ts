export { EtcdDcs, type EtcdDcsOptions } from './etcd-dcs.js';
export { DcsError, type DcsErrorKind } from './calls.js';
export { RESYNC_KEY } from './watch.js';
export { clusterPrefix } from './keys.js';
