// Credential and allowlist checks of the mutating endpoints, on their own.
import { describe, expect, it } from 'vitest';
import { authConfigured, checkAuthorization, compileAllowlist, constantTimeEqual } from '../../../agent/api/auth.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('checkAuthorization', () => {
  const auth = { username: 'admin', password: 'p:a:s:s', token: 'T0KEN' };

  it('accepts the right basic credentials (a password may contain colons) and the right token', () => {
    expect(checkAuthorization(basic('admin', 'p:a:s:s'), auth)).toEqual({ ok: true, user: 'admin' });
    expect(checkAuthorization('bearer T0KEN', auth)).toEqual({ ok: true, user: '(token)' });
  });

  it('tells a missing header from bad credentials', () => {
    expect(checkAuthorization(undefined, auth)).toEqual({ ok: false, reason: 'missing' });
    expect(checkAuthorization('  ', auth)).toEqual({ ok: false, reason: 'missing' });
    for (const h of [basic('admin', 'p:a:s'), basic('Admin', 'p:a:s:s'), basic('admin', ''), 'Basic', 'Basic bm9jb2xvbg==', 'Bearer T0KEN2', 'Bearer t0ken', 'Digest x', 'T0KEN']) {
      expect(checkAuthorization(h, auth), h).toEqual({ ok: false, reason: 'bad' });
    }
  });

  it('refuses a method that is not configured', () => {
    expect(checkAuthorization('Bearer T0KEN', { username: 'a', password: 'b' })).toEqual({ ok: false, reason: 'bad' });
    expect(checkAuthorization(basic('a', 'b'), { token: 'T0KEN' })).toEqual({ ok: false, reason: 'bad' });
  });

  it('counts only complete methods as configured', () => {
    expect(authConfigured(undefined)).toBe(false);
    expect(authConfigured({})).toBe(false);
    expect(authConfigured({ username: 'a' })).toBe(false);
    expect(authConfigured({ username: 'a', password: 'b' })).toBe(true);
    expect(authConfigured({ token: 't' })).toBe(true);
  });

  it('compares strings of any lengths through equal-length digests', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'x'.repeat(10_000))).toBe(false);
  });
});

describe('compileAllowlist', () => {
  const allowed = compileAllowlist(['10.0.0.0/8', '192.168.1.10', '2001:db8::/32', '::1']);

  it('matches IPv4 and IPv6 addresses and networks', () => {
    expect(allowed('10.200.3.4')).toBe(true);
    expect(allowed('192.168.1.10')).toBe(true);
    expect(allowed('192.168.1.11')).toBe(false);
    expect(allowed('2001:db8:1::5')).toBe(true);
    expect(allowed('2001:db9::5')).toBe(false);
    expect(allowed('::1')).toBe(true);
  });

  it('matches IPv4 clients seen through a dual-stack socket (::ffff:a.b.c.d)', () => {
    expect(allowed('::ffff:10.1.1.1')).toBe(true);
    expect(allowed('::ffff:11.1.1.1')).toBe(false);
  });

  it('refuses what is not an address', () => {
    expect(allowed(undefined)).toBe(false);
    expect(allowed('localhost')).toBe(false);
  });

  it('rejects malformed entries', () => {
    expect(() => compileAllowlist(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => compileAllowlist(['example.com'])).toThrow(/not an IP/);
  });
});
