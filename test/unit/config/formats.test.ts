// Address formats and the env-var map's consistency with the schema.
import { describe, expect, it } from 'vitest';
import { ENV_MAP, staticConfigSchema } from '../../../agent/config/index.js';
import { isIpOrCidr, isListenAddresses, parseHostPort } from '../../../agent/config/formats.js';
import { kindAt } from '../../../agent/config/schema-walk.js';

describe('parseHostPort', () => {
  it.each([
    ['10.0.0.1:2379', { host: '10.0.0.1', port: 2379 }],
    ['etcd-1.example.com:2379', { host: 'etcd-1.example.com', port: 2379 }],
    ['[::1]:8008', { host: '::1', port: 8008 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
    ['pg_etcd_1:2379', { host: 'pg_etcd_1', port: 2379 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
  ])('%s is valid', (s, expected) => {
    expect(parseHostPort(s)).toEqual(expected);
  });

  it.each(['10.0.0.1', 'host:0', 'host:65536', ':2379', '::1:8008', '[10.0.0.1]:80', 'http://h:2379', 'h 1:80', '-h:80', 'a..b:80', 'h:80:90', ''])(
    '%s is rejected',
    (s) => {
      expect(parseHostPort(s)).toBeNull();
    },
  );
});

describe('other formats', () => {
  it('listen_addresses', () => {
    expect(isListenAddresses('*')).toBe(true);
    expect(isListenAddresses('127.0.0.1, 10.0.0.5')).toBe(true);
    expect(isListenAddresses('127.0.0.1:5432')).toBe(false);
    expect(isListenAddresses('')).toBe(false);
  });

  it('allowlist entries', () => {
    expect(isIpOrCidr('10.0.0.0/8')).toBe(true);
    expect(isIpOrCidr('fd00::/8')).toBe(true);
    expect(isIpOrCidr('10.0.0.0/33')).toBe(false);
    expect(isIpOrCidr('example.com')).toBe(false);
  });
});

describe('ENV_MAP', () => {
  it.each(Object.entries(ENV_MAP))('%s → %s is a key of the schema', (name, key) => {
    expect(name).toMatch(/^PGWARDEN_[A-Z_]+$/);
    expect(kindAt(staticConfigSchema, key.split('.'))).toMatch(/^(string|number|boolean|array|enum)$/);
  });
});
