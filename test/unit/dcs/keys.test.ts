import { describe, expect, test } from 'vitest';
import { ClusterKeys, clusterPrefix, prefixRangeEnd } from '../../../agent/dcs/keys.js';

describe('cluster prefix', () => {
  test.each([
    ['/pgwarden', 'demo', '/pgwarden/demo/'],
    ['pgwarden', 'demo', '/pgwarden/demo/'],
    ['/pgwarden/', 'demo', '/pgwarden/demo/'],
    ['//pgwarden//', 'demo', '/pgwarden/demo/'],
    ['/service/eu', 'demo', '/service/eu/demo/'],
    ['', 'demo', '/demo/'],
    ['/', 'demo', '/demo/'],
  ])('namespace %j, scope %j → %j', (ns, scope, expected) => {
    expect(clusterPrefix(ns, scope)).toBe(expected);
  });

  test.each(['', 'a/b', ' demo'])('scope %j is refused', (scope) => {
    expect(() => clusterPrefix('/pgwarden', scope)).toThrow(/scope/);
  });
});

describe('ClusterKeys', () => {
  const keys = new ClusterKeys('/pgwarden', 'demo');

  test('absolute and relative keys', () => {
    expect(keys.key('leader').toString()).toBe('/pgwarden/demo/leader');
    expect(keys.key('members/n1').toString()).toBe('/pgwarden/demo/members/n1');
    expect(keys.relative(Buffer.from('/pgwarden/demo/members/n1'))).toBe('members/n1');
    expect(keys.relative(Buffer.from('/pgwarden/demo2/leader'))).toBeNull();
    expect(keys.relative(Buffer.from('/pgwarden/dem'))).toBeNull();
  });

  test('the range end covers exactly the prefix', () => {
    expect(keys.rangeEnd.toString()).toBe('/pgwarden/demo0'); // '/' + 1 = '0'
    expect(prefixRangeEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixRangeEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });
});
