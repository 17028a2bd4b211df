// `pgwarden proxy-config --etcd HOST haproxy`: the flag takes one value, so the positional that
// follows it is not read as a second etcd host (issue 11, item 15's sibling).
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { proxyConfigOptions } from '../../../proxy-config/options.js';

async function parse(args: string[]) {
  return yargs(args)
    .command('proxy-config <kind>', 'render', (y) => proxyConfigOptions(y), () => undefined)
    .strict().exitProcess(false).fail((msg, err) => { throw err ?? new Error(msg); })
    .parseAsync();
}

describe('proxy-config --etcd', () => {
  it('does not swallow the positional after it', async () => {
    const a = await parse(['proxy-config', '--etcd', '10.0.1.11:2379', 'haproxy']);
    expect(a['kind']).toBe('haproxy');
    expect(a['etcd']).toEqual(['10.0.1.11:2379']);
  });

  it('repeats', async () => {
    const a = await parse(['proxy-config', 'haproxy', '--etcd', 'a:1', '--etcd', 'b:2']);
    expect(a['etcd']).toEqual(['a:1', 'b:2']);
  });
});
