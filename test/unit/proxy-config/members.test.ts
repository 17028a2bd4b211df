// Member keys → HAProxy servers: PostgreSQL address for traffic, the API's host and port for checks.
import { describe, expect, it } from 'vitest';
import { apiAddress, haproxyMembers } from '../../../proxy-config/members.js';
import { member } from '../api/builders.js';

describe('haproxyMembers', () => {
  it('maps members in name order, checking each on its api_url port', () => {
    const out = haproxyMembers([
      member('node-c', { host: '10.0.0.3', port: 5433, apiUrl: 'http://10.0.1.3:8010/' }),
      member('node-a', { host: '10.0.0.1', apiUrl: 'http://10.0.0.1:8008/' }),
      member('node-b', { host: 'db2.example', apiUrl: 'https://db2.example/' }),
      member('node-d', { apiUrl: 'not a url' }),
    ]);
    expect(out.members).toEqual([
      { name: 'node-a', host: '10.0.0.1', port: 5432, apiHost: '10.0.0.1', apiPort: 8008 },
      { name: 'node-b', host: 'db2.example', port: 5432, apiHost: 'db2.example', apiPort: 443, apiTls: true },
      { name: 'node-c', host: '10.0.0.3', port: 5433, apiHost: '10.0.1.3', apiPort: 8010 },
    ]);
    expect(out.https).toEqual(['node-b']);
    expect(out.skipped).toEqual([{ name: 'node-d', reason: 'api_url "not a url" is not an http(s) URL' }]);
  });

  it('reads IPv6 API addresses without brackets', () => {
    expect(apiAddress('http://[::1]:8008/')).toEqual({ host: '::1', port: 8008, https: false });
    expect(apiAddress('ftp://x/')).toBeNull();
  });
});
