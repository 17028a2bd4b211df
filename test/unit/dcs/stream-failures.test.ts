// A failed lease keepalive or watch stream: a slow host keeps its connection, a silent one gets a
// fresh one, and the host's breaker hears of the failure either way.
import { describe, expect, it } from 'vitest';
import { CircuitState } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { HostPolicy, KEEP_CONNECTION_MS } from '../../../agent/dcs/host-policy.js';
import { markStreamFailed } from '../../../agent/dcs/stream-failures.js';

function host(now: () => number) {
  const h = { faultHandling: new HostPolicy({ breaker: true, clock: { now } }), resets: 0, resetAllServices() { h.resets++; } };
  return h;
}

const deadline = () => new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');

describe('markStreamFailed', () => {
  it('a deadline on a host that answered recently: no reset, but the breaker opens', async () => {
    let now = 10_000;
    const h = host(() => now);
    await h.faultHandling.execute(() => 'an answer');
    now += KEEP_CONNECTION_MS - 500;
    markStreamFailed(h, deadline());
    await new Promise((r) => setImmediate(r));
    expect(h.resets).toBe(0);
    expect(h.faultHandling.state).toBe(CircuitState.Open);
  });

  it('a slow stream failure is not an answer: the host is reset once its last real answer is old', async () => {
    let now = 10_000;
    const h = host(() => now);
    await h.faultHandling.execute(() => 'an answer');
    now += 1500;
    markStreamFailed(h, deadline()); // slow: kept
    now += 600; // 2.1 s after the last real answer
    markStreamFailed(h, deadline());
    expect(h.resets).toBe(1);
  });

  it('a deadline on a host silent for longer: the connection is reset', () => {
    let now = 10_000;
    const h = host(() => now);
    now += KEEP_CONNECTION_MS + 1;
    markStreamFailed(h, deadline());
    expect(h.resets).toBe(1);
  });

  it('other transport errors reset as etcd3 does', () => {
    const h = host(() => 0);
    markStreamFailed(h, new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped'));
    expect(h.resets).toBe(1);
  });
});
