// renderHaproxyConfig is pure: these tests read its output as HAProxy would (sections, check
// paths, server lines), without snapshots.
import { describe, expect, it } from 'vitest';
import { checkPaths, HaproxyRenderError, renderHaproxyConfig, type RenderHaproxyOptions } from '../../../proxy-config/render.js';

const members = [
  { name: 'node1', host: '10.0.0.1', port: 5432, apiHost: '10.0.0.1', apiPort: 8008 },
  { name: 'node2', host: '10.0.0.2', port: 5433, apiHost: '10.0.0.2', apiPort: 8009 },
  { name: 'node3', host: '10.0.0.3', port: 5434, apiHost: '10.0.1.3', apiPort: 8010 },
];

const base: RenderHaproxyOptions = {
  scope: 'batman',
  members,
  listen: { rw: '127.0.0.1:5000', ro: '127.0.0.1:5001', stats: '127.0.0.1:7000' },
};

/** Section name → its indented lines. */
function sections(cfg: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of cfg.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    if (!line.startsWith(' ')) {
      current = [];
      out.set(line.trim(), current);
    } else {
      current?.push(line.trim());
    }
  }
  return out;
}

describe('renderHaproxyConfig', () => {
  it('has a read-write listener checking OPTIONS /primary on each agent API port', () => {
    const rw = sections(renderHaproxyConfig(base)).get('listen batman_rw')!;
    expect(rw).toContain('bind 127.0.0.1:5000');
    expect(rw).toContain('option httpchk OPTIONS /primary');
    expect(rw).toContain('http-check expect status 200');
    expect(rw.filter((l) => l.startsWith('server '))).toEqual([
      'server node1 10.0.0.1:5432 maxconn 100 check port 8008',
      'server node2 10.0.0.2:5433 maxconn 100 check port 8009',
      'server node3 10.0.0.3:5434 maxconn 100 check addr 10.0.1.3 port 8010',
    ]);
  });

  it('has a read-only listener checking /replica, with the lag limit when given', () => {
    const ro = sections(renderHaproxyConfig(base)).get('listen batman_ro')!;
    expect(ro).toContain('bind 127.0.0.1:5001');
    expect(ro).toContain('option httpchk OPTIONS /replica');
    expect(ro).toContain('balance roundrobin');
    expect(ro.filter((l) => l.startsWith('server '))).toHaveLength(3);

    const lagged = sections(renderHaproxyConfig({ ...base, replicaLag: '16MB' })).get('listen batman_ro')!;
    expect(lagged).toContain('option httpchk OPTIONS /replica?lag=16MB');
    expect(checkPaths('1024')).toEqual({ rw: '/primary', ro: '/replica?lag=1024' });
  });

  it('takes a server out after one failed check and cuts its sessions', () => {
    const s = sections(renderHaproxyConfig(base));
    for (const name of ['listen batman_rw', 'listen batman_ro']) {
      expect(s.get(name)).toContain(
        'default-server inter 500ms fall 1 rise 1 fastinter 250ms downinter 200ms on-marked-down shutdown-sessions',
      );
    }
  });

  it('uses TCP mode with short connect/check timeouts and a connection limit', () => {
    const s = sections(renderHaproxyConfig({ ...base, maxconn: 321 }));
    expect(s.get('global')).toContain('maxconn 321');
    const d = s.get('defaults')!;
    expect(d).toContain('mode tcp');
    expect(d).toContain('timeout connect 1s');
    expect(d).toContain('timeout check 1s');
    expect(s.get('listen batman_rw')).toContain('maxconn 321');
  });

  it('has a stats listener in HTTP mode, or none when not asked for', () => {
    const stats = sections(renderHaproxyConfig(base)).get('listen stats')!;
    expect(stats).toEqual(expect.arrayContaining(['mode http', 'bind 127.0.0.1:7000', 'stats enable', 'stats uri /']));
    const none = sections(renderHaproxyConfig({ ...base, listen: { rw: 5000, ro: 5001 } }));
    expect(none.has('listen stats')).toBe(false);
    expect(none.get('listen batman_rw')).toContain('bind *:5000');
  });

  it('accepts timing overrides', () => {
    const cfg = renderHaproxyConfig({ ...base, check: { inter: '3s', fall: 3, rise: 2 } });
    expect(cfg).toContain('default-server inter 3s fall 3 rise 2 fastinter 250ms downinter 200ms on-marked-down shutdown-sessions');
  });

  it('renders listeners without servers for an empty member list', () => {
    const s = sections(renderHaproxyConfig({ ...base, members: [] }));
    expect(s.get('listen batman_rw')!.some((l) => l.startsWith('server '))).toBe(false);
  });

  it('brackets IPv6 addresses and sanitises names', () => {
    const cfg = renderHaproxyConfig({
      ...base,
      scope: 'my cluster',
      members: [{ name: 'db/1', host: '::1', port: 5432, apiHost: '::1', apiPort: 8008 }],
    });
    expect(cfg).toContain('listen my_cluster_rw');
    expect(cfg).toContain('server db_1 [::1]:5432 maxconn 100 check port 8008');
  });

  it('checks agents served over https with check-ssl (verify none unless a CA is given)', () => {
    const tls = [{ ...members[0]!, apiTls: true }, members[1]!];
    expect(renderHaproxyConfig({ ...base, members: tls })).toContain('server node1 10.0.0.1:5432 maxconn 100 check port 8008 check-ssl verify none\n');
    const verified = renderHaproxyConfig({ ...base, members: tls, checkTls: { caFile: '/etc/pgwarden/ca.crt', certFile: '/etc/haproxy/check.pem' } });
    expect(verified).toContain('check port 8008 check-ssl verify required ca-file /etc/pgwarden/ca.crt crt /etc/haproxy/check.pem\n');
    expect(verified).toContain('server node2 10.0.0.2:5433 maxconn 100 check port 8009\n');
  });

  it('is deterministic', () => {
    expect(renderHaproxyConfig(base)).toBe(renderHaproxyConfig(structuredClone(base)));
  });

  it.each([
    ['a bad port', { ...base, members: [{ ...members[0]!, port: 70000 }] }, /members\[0\].host\/port/],
    ['a bad API port', { ...base, members: [{ ...members[0]!, apiPort: 0 }] }, /members\[0\].apiPort/],
    ['a host with spaces', { ...base, members: [{ ...members[0]!, host: 'a b' }] }, /not a host/],
    ['duplicate names', { ...base, members: [members[0]!, { ...members[1]!, name: 'node1' }] }, /duplicate server name/],
    ['a bad listen address', { ...base, listen: { rw: 'localhost', ro: 5001 } }, /listen.rw/],
    ['a bad lag', { ...base, replicaLag: '10 parsecs' }, /replicaLag/],
    ['a bad duration', { ...base, check: { inter: 'soon' } }, /check.inter/],
    ['fall 0', { ...base, check: { fall: 0 } }, /check.fall/],
  ])('rejects %s with a message naming the field', (_what, opts, message) => {
    expect(() => renderHaproxyConfig(opts as RenderHaproxyOptions)).toThrow(HaproxyRenderError);
    expect(() => renderHaproxyConfig(opts as RenderHaproxyOptions)).toThrow(message);
  });
});
