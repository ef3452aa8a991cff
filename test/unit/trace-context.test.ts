import { expect } from 'chai';
import { newRequestId, newTraceparent, traceContext, validTraceparent } from '../../topology/index.js';

describe('trace context', () => {
  it('makes traceparents that are valid, sampled and all different, across refills of the random pool', () => {
    const seen = new Set<string>();
    // 256 traceparents per pool: 1 000 crosses three refills.
    for (let i = 0; i < 1000; i++) {
      const t = newTraceparent();
      expect(t).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(validTraceparent(t), t).to.equal(t);
      seen.add(t.slice(3, 35));
      seen.add(t.slice(36, 52));
    }
    expect(seen.size).to.equal(2000);
  });

  it("keeps a client's valid ids and replaces invalid ones", () => {
    const client = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(traceContext({ 'x-request-id': 'req-1', traceparent: client })).to.deep.equal({ requestId: 'req-1', traceparent: client });
    const made = traceContext({ 'x-request-id': 'bad id', traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' });
    expect(made.requestId).to.not.equal('bad id');
    expect(made.traceparent).to.not.include('0000000000000000');
    expect(validTraceparent(made.traceparent)).to.equal(made.traceparent);
    expect(newRequestId()).to.match(/^[0-9a-f-]{36}$/);
  });
});
