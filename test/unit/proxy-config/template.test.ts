// --template: {{placeholders}} filled from the same validated pieces as the built-in layout;
// anything else between {{ }} is refused with the file, line and the known names.
import { describe, expect, it } from 'vitest';
import { PLACEHOLDERS, TemplateError, fillTemplate, parseTemplate } from '../../../proxy-config/template.js';
import { renderHaproxyConfig, type RenderHaproxyOptions } from '../../../proxy-config/render.js';

const opts: RenderHaproxyOptions = {
  scope: 'batman',
  members: [
    { name: 'node1', host: '10.0.0.1', port: 5432, apiHost: '10.0.0.1', apiPort: 8008 },
    { name: 'node2', host: '10.0.0.2', port: 5432, apiHost: '10.0.0.2', apiPort: 8008 },
  ],
  listen: { rw: 5000, ro: 5001, stats: 7000 },
  replicaLag: '16MB',
};

// Patroni's documented haproxy.cfg, with the servers and check paths left to pgwarden.
const PATRONI_STYLE = `global
    maxconn 100

listen {{ scope }}
    bind {{rw_bind}}
    option httpchk OPTIONS {{rw_check_path}}
    http-check expect status 200
    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
    {{servers}}

listen replicas
    bind {{ro_bind}}
    option httpchk OPTIONS {{ro_check_path}}
    # members: {{server_names}}
    {{ servers }}
`;

describe('templates', () => {
  it('fills placeholders and indents multi-line values like the placeholder', () => {
    const out = fillTemplate(parseTemplate(PATRONI_STYLE, 'haproxy.tmpl'), opts);
    expect(out).toContain('listen batman\n    bind *:5000\n    option httpchk OPTIONS /primary\n');
    expect(out).toContain('option httpchk OPTIONS /replica?lag=16MB');
    expect(out).toContain('    # members: node1,node2\n');
    expect(out).toContain(
      '    server node1 10.0.0.1:5432 maxconn 100 check port 8008\n    server node2 10.0.0.2:5432 maxconn 100 check port 8008\n\nlisten replicas',
    );
    expect(out).not.toContain('{{');
  });

  it('{{config}} is the built-in rendering', () => {
    const out = fillTemplate(parseTemplate('{{config}}\nlisten extra\n    bind *:9999\n', 't'), opts);
    expect(out).toBe(`${renderHaproxyConfig(opts)}\nlisten extra\n    bind *:9999\n`);
  });

  it('documents every placeholder it fills', () => {
    const all = Object.keys(PLACEHOLDERS).map((n) => `{{${n}}}`).join('\n');
    expect(() => fillTemplate(parseTemplate(all, 't'), opts)).not.toThrow();
  });

  it.each([
    ['an unknown placeholder', 'a\nbind {{rw_port}}\n', /t\.tmpl line 2: unknown placeholder \{\{rw_port\}\}; known placeholders: \{\{header\}\}, /],
    ['an expression', '{{ servers | join }}', /line 1: unknown placeholder \{\{servers \| join\}\}/],
    ['an empty placeholder', 'x {{ }}', /line 1: empty placeholder/],
    ['an unclosed placeholder', 'x {{servers\n}}', /line 1: "\{\{" without a closing "\}\}"/],
  ])('refuses %s, naming the file and line', (_what, text, message) => {
    expect(() => parseTemplate(text, 't.tmpl')).toThrow(TemplateError);
    expect(() => parseTemplate(text, 't.tmpl')).toThrow(message);
  });

  it('refuses {{stats_bind}} when the stats listener is off', () => {
    const t = parseTemplate('bind {{stats_bind}}', 't');
    expect(() => fillTemplate(t, { ...opts, listen: { rw: 5000, ro: 5001 } })).toThrow(/stats listener is off/);
  });
});
