// The health benchmark's parsing of wrk output and the sizing of its paced run.
import { describe, expect, it } from 'vitest';
import { pacedConnections, parseWrk, wrkDurationMs, wrkScript } from '../../../agent/local/bench/health.js';

// Real `wrk --latency` output (wrk 4.1.0, Debian 12), paced OPTIONS /primary run.
const WRK_OUT = `Running 10s test @ http://127.0.0.1:23545/primary
  2 threads and 26 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   285.12us  301.44us  12.31ms   96.10%
    Req/Sec     5.42k   120.93     5.71k    71.50%
  Latency Distribution
     50%  238.00us
     75%  310.00us
     90%  401.00us
     99%    0.96ms
  108012 requests in 10.00s, 8.45MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:  10800.57
Transfer/sec:    865.23KB
`;

describe('bench health', () => {
  it('parses wrk --latency output', () => {
    expect(parseWrk(WRK_OUT)).toEqual({
      requests: 108012, requestsPerSec: 10800.57,
      p50Ms: 0.238, p75Ms: 0.31, p90Ms: 0.401, p99Ms: 0.96, maxMs: 12.31,
      non2xx: 12, socketErrors: 3,
    });
  });

  it('refuses output without the figures', () => {
    expect(() => parseWrk('unable to connect to 127.0.0.1:9 Connection refused')).toThrow(/request count/);
    expect(() => wrkDurationMs('12 parsecs')).toThrow(/unexpected duration/);
  });

  it('sizes the paced run to offer about the requested rate', () => {
    // 2 ms pause + ~0.3 ms round trip per request and connection.
    expect(pacedConnections(11_000)).toBe(26);
    expect(pacedConnections(10_000) * (1000 / 2.3)).toBeGreaterThanOrEqual(10_000);
    expect(pacedConnections(1)).toBe(1);
  });

  it('writes a Lua script only when one is needed', () => {
    expect(wrkScript('GET', 'saturation')).toBeNull();
    expect(wrkScript('OPTIONS', 'saturation')).toBe('wrk.method = "OPTIONS"\n');
    expect(wrkScript('GET', 'paced')).toBe('function delay() return 2 end\n');
    expect(wrkScript('OPTIONS', 'paced')).toBe('wrk.method = "OPTIONS"\nfunction delay() return 2 end\n');
  });
});
