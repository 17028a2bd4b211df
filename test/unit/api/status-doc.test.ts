import { describe, expect, it } from 'vitest';
import { buildStatusDoc, documentRole } from '../../../agent/api/status-doc.js';
import { OPTIME, primaryState, replicaState, withNoCluster, withPgStopped, withSync, withTags } from './builders.js';

describe('buildStatusDoc', () => {
  it('a running primary: xlog.location as an integer, replication rows, snake_case tags', () => {
    const doc = buildStatusDoc(withTags(primaryState(), { failoverPriority: 7, nosync: true }));
    expect(doc).toEqual({
      name: 'node-a',
      scope: 'demo',
      role: 'primary',
      state: 'running',
      timeline: 2,
      xlog: { location: OPTIME + 4096 },
      replication: [{ application_name: 'node-b', client_addr: '10.0.0.2', state: 'streaming', sync_state: 'async' }],
      sync_standby: false,
      synchronous_replication: { state: 'off', standbys: [] },
      pause: false,
      tags: { nofailover: false, failover_priority: 7, noloadbalance: false, nosync: true },
      dcs_last_seen: 1_735_689_600,
      lease_renewed_at: 1_735_689_599.5,
      last_decision: { action: 'renew_leader', reason: 'I am the leader with the lock', at: '2025-01-01T00:00:01.000Z' },
      pending_restart: false,
      server_version: 170002,
      version: '0.1.0',
      patroni: { version: '0.1.0', scope: 'demo', name: 'node-a' },
    });
  });

  it('a running replica: received and replayed positions', () => {
    const doc = buildStatusDoc(replicaState({ lag: 1000 }));
    expect(doc.xlog).toEqual({ received_location: OPTIME - 900, replayed_location: OPTIME - 1000, replayed_timestamp: null, paused: false });
    expect(doc.role).toBe('replica');
    expect(doc.replication).toEqual([]);
  });

  it('sync_standby is true when listed in the sync key', () => {
    expect(buildStatusDoc(withSync(replicaState())).sync_standby).toBe(true);
    expect(buildStatusDoc(replicaState()).sync_standby).toBe(false);
  });

  it('stopped: no xlog, role from the control file', () => {
    const stoppedPrimary = buildStatusDoc(withPgStopped(primaryState()));
    expect(stoppedPrimary).not.toHaveProperty('xlog');
    expect(stoppedPrimary).toMatchObject({ role: 'primary', state: 'stopped' });
    expect(buildStatusDoc(withPgStopped(replicaState())).role).toBe('replica');
  });

  it('survives the absence of a cluster view and of a decision', () => {
    const doc = buildStatusDoc(withNoCluster(primaryState({ lastDecision: null, serverVersion: null })));
    expect(doc).toMatchObject({ pause: false, sync_standby: false, dcs_last_seen: null, last_decision: null, server_version: null });
  });

  it('is plain JSON (round-trips unchanged)', () => {
    const doc = buildStatusDoc(replicaState());
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });
});

describe('documentRole', () => {
  it('an empty data directory is uninitialized', () => {
    const s = withPgStopped(replicaState());
    expect(documentRole({ ...s, pg: { ...s.pg, dataDir: 'empty', controlState: 'unknown' } })).toBe('uninitialized');
  });

  it.each([
    ['in production', 'primary'], ['shut down', 'primary'], ['shut down in recovery', 'replica'], ['in archive recovery', 'replica'],
  ] as const)('stopped with control state %s is %s', (controlState, role) => {
    const s = withPgStopped(primaryState());
    expect(documentRole({ ...s, pg: { ...s.pg, controlState } })).toBe(role);
  });
});

describe('issue 11 items 10, 14, 17 in the status document', () => {
  it('reports refused credentials without secrets, and pending_restart', () => {
    const base = primaryState({ pendingRestart: true });
    const doc = buildStatusDoc({ ...base, pg: { ...base.pg, credentialErrors: [{ credential: 'superuser', username: 'postgres', error: 'password authentication failed for user "postgres"' }] } });
    expect(doc.pending_restart).toBe(true);
    expect(doc.credential_errors).toEqual([{ credential: 'superuser', username: 'postgres', error: 'password authentication failed for user "postgres"' }]);
    expect(buildStatusDoc(primaryState()).credential_errors).toBeUndefined();
  });

  it('a stopped base backup that never started is a replica, whatever its copied control file says', () => {
    const s = withPgStopped(replicaState());
    expect(documentRole({ ...s, pg: { ...s.pg, role: null, controlState: 'in production', backupLabel: true } })).toBe('replica');
    expect(documentRole({ ...s, pg: { ...s.pg, role: null, controlState: 'in production' } })).toBe('primary');
  });
});
