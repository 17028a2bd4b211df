// What ctl prints: the member table and its JSON form, the topology tree and the history table.
// PURE: data in, text out (unit-tested as such).
import { formatLsn } from '../core/lsn.js';
import type { MemberRecord, Tags } from '../core/types.js';
import type { ClusterRead } from './etcd.js';
import type { MemberStatus } from './context.js';

/** A plain ASCII table: +---+ rules, | cells |, columns as wide as their widest cell. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  const sep = `+-${widths.map((w) => '-'.repeat(w)).join('-+-')}-+`;
  return [sep, line(header), sep, ...rows.map(line), sep].join('\n');
}

/** Bytes → MB as the table shows it: 3 decimals below 1 MB, 1 above. */
export function formatLagMb(bytes: number | null): string {
  if (bytes === null) return '';
  return (bytes / 1048576).toFixed(bytes < 1048576 ? 3 : 1);
}

/** Tags that differ from the defaults, e.g. "nofailover, failover_priority=0". */
export function formatTags(t: Tags): string {
  const out: string[] = [];
  if (t.nofailover) out.push('nofailover');
  if (t.noloadbalance) out.push('noloadbalance');
  if (t.nosync) out.push('nosync');
  if (t.failoverPriority !== 1) out.push(`failover_priority=${t.failoverPriority}`);
  return out.join(', ');
}

export interface MemberEntry {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly api_url: string;
  /** leader | sync_standby | replica | primary (a primary without the key) | uninitialized */
  readonly role: string;
  readonly state: string;
  readonly timeline: number | null;
  /** Bytes replayed behind the leader's published position; null for the leader or when unknown. */
  readonly lag_bytes: number | null;
  readonly tags: { nofailover: boolean; failover_priority: number; noloadbalance: boolean; nosync: boolean };
  /** From the member's /status; null when it did not answer. */
  readonly pending_restart: boolean | null;
}

/** `ctl list --json`. */
export interface ClusterListing {
  readonly scope: string;
  readonly system_id: string | null;
  readonly leader: string | null;
  readonly paused: boolean;
  readonly scheduled_switchover: { at: string; from: string | null; to: string | null } | null;
  readonly members: readonly MemberEntry[];
}

export function lagOf(read: ClusterRead, m: MemberRecord): number | null {
  if (m.name === read.view.leader) return null;
  const optime = read.view.status?.optime ?? null;
  const position = m.replayedLsn ?? m.receivedLsn;
  return optime === null || position === null ? null : Math.max(0, optime - position);
}

function roleOf(read: ClusterRead, m: MemberRecord): string {
  if (m.name === read.view.leader) return 'leader';
  if (read.view.sync?.syncStandbys.includes(m.name) && read.view.sync.leader === read.view.leader) return 'sync_standby';
  return m.role;
}

export function buildListing(read: ClusterRead, statuses: ReadonlyMap<string, MemberStatus | null>): ClusterListing {
  const f = read.view.failover;
  const init = read.view.initialize;
  return {
    scope: read.scope,
    system_id: init.state === 'done' ? init.systemId : null,
    leader: read.view.leader,
    paused: read.config?.pause === true,
    scheduled_switchover: f?.scheduledAt ? { at: f.scheduledAt, from: f.leader ?? null, to: f.candidate ?? null } : null,
    members: read.view.members.map((m): MemberEntry => {
      const st = statuses.get(m.name);
      return {
        name: m.name,
        host: m.host,
        port: m.port,
        api_url: m.apiUrl,
        role: roleOf(read, m),
        state: m.state,
        timeline: m.timeline,
        lag_bytes: lagOf(read, m),
        tags: { nofailover: m.tags.nofailover, failover_priority: m.tags.failoverPriority, noloadbalance: m.tags.noloadbalance, nosync: m.tags.nosync },
        pending_restart: st ? st.pending_restart === true : null,
      };
    }),
  };
}

const ROLE_LABEL: Readonly<Record<string, string>> = {
  leader: 'Leader', sync_standby: 'Sync Standby', replica: 'Replica', primary: 'Primary (no key)', uninitialized: 'Uninitialized',
};

function tagText(t: MemberEntry['tags']): string {
  return formatTags({ nofailover: t.nofailover, failoverPriority: t.failover_priority, noloadbalance: t.noloadbalance, nosync: t.nosync });
}

/** `ctl list`: heading, member table, then the paused banner and any scheduled switchover. */
export function renderListing(l: ClusterListing): string {
  const heading = `Cluster: ${l.scope}${l.system_id ? ` (system id ${l.system_id})` : ''}`;
  const rows = l.members.map((m) => [
    m.name,
    `${m.host}:${m.port}`,
    ROLE_LABEL[m.role] ?? m.role,
    m.state,
    m.timeline === null ? '' : String(m.timeline),
    formatLagMb(m.lag_bytes),
    tagText(m.tags),
    m.pending_restart === null ? '?' : m.pending_restart ? '*' : '',
  ]);
  const out = [heading, renderTable(['Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB', 'Tags', 'Pending restart'], rows)];
  if (l.members.length === 0) out.push(' No members registered.');
  if (l.leader === null) out.push(' No leader: the leader key is not held.');
  if (l.paused) out.push(' Maintenance mode: on (cluster paused: no automatic failover)');
  if (l.scheduled_switchover) {
    const s = l.scheduled_switchover;
    out.push(` Switchover scheduled at ${s.at}: from ${s.from ?? '(current leader)'} to ${s.to ?? '(best candidate)'}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * `ctl topology`: the leader and, under it, the other members (pgwarden replicas stream from the
 * leader; there is no cascading). Each replica says how it replicates when the leader's
 * pg_stat_replication (its /status `replication`, by application_name = member name) lists it,
 * and "not replicating" when the leader lists others but not it.
 */
export function renderTopology(read: ClusterRead, statuses: ReadonlyMap<string, MemberStatus | null>): string {
  const listing = buildListing(read, statuses);
  const leader = listing.members.find((m) => m.name === listing.leader) ?? null;
  const leaderStatus = leader ? statuses.get(leader.name) ?? null : null;
  const replication = new Map<string, { state?: string; sync_state?: string }>();
  for (const r of leaderStatus?.replication ?? []) {
    if (r.application_name) replication.set(r.application_name, r);
  }
  const describe = (m: MemberEntry): string => {
    const parts = [ROLE_LABEL[m.role] ?? m.role, m.state];
    if (m.timeline !== null) parts.push(`TL ${m.timeline}`);
    if (m.lag_bytes !== null) parts.push(`lag ${formatLagMb(m.lag_bytes)} MB`);
    const tags = tagText(m.tags);
    if (tags) parts.push(tags);
    return `${m.name} (${m.host}:${m.port}) [${parts.join(', ')}]`;
  };
  const lines = [`Cluster: ${listing.scope}${listing.paused ? ' (paused)' : ''}`];
  const others = listing.members.filter((m) => m !== leader);
  if (leader === null) {
    lines.push('(no leader)');
    for (const m of others) lines.push(describe(m));
    return `${lines.join('\n')}\n`;
  }
  lines.push(`${describe(leader)}${leaderStatus === null ? ` (${leader.name} did not answer)` : ''}`);
  others.forEach((m, i) => {
    const r = replication.get(m.name);
    const how = r
      ? ` ← ${leader.name}: ${r.state ?? 'connected'}${r.sync_state ? `, ${r.sync_state}` : ''}`
      : replication.size > 0 ? ` — not replicating from ${leader.name}` : '';
    lines.push(`${i === others.length - 1 ? '└─' : '├─'} ${describe(m)}${how}`);
  });
  return `${lines.join('\n')}\n`;
}

export interface HistoryEntryJson {
  readonly timeline: number;
  readonly lsn: number;
  readonly lsn_text: string;
  readonly reason: string;
  readonly timestamp: string;
  readonly new_leader: string;
}

export function historyEntries(read: ClusterRead): HistoryEntryJson[] {
  return read.view.history.map((h) => ({
    timeline: h.timeline, lsn: h.lsn, lsn_text: formatLsn(h.lsn), reason: h.reason, timestamp: h.timestamp, new_leader: h.newLeader,
  }));
}

/** `ctl history`: one row per timeline switch, oldest first. */
export function renderHistory(entries: readonly HistoryEntryJson[]): string {
  if (entries.length === 0) return 'No timeline switches recorded (the cluster is still on its first timeline).\n';
  const rows = entries.map((h) => [String(h.timeline), h.lsn_text, String(h.lsn), h.reason, h.timestamp, h.new_leader]);
  return `${renderTable(['TL', 'LSN', 'LSN (bytes)', 'Reason', 'Timestamp', 'New Leader'], rows)}\n`;
}
