import { expect } from 'chai';
import { Backoff, retryAfterMs } from '../../client-sdk/backoff.js';
import { resolveOptions, WAYMARK_CLIENT_DEFAULTS } from '../../client-sdk/options.js';

/** A random source that returns the given values in turn. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('SDK discovery backoff', () => {
  const policy = { baseMs: 100, multiplier: 2, maxMs: 1000, jitter: 1 };

  it('grows the ceiling by the multiplier per consecutive failure, up to the maximum', () => {
    // random() = 0 draws the ceiling itself (1 − jitter × 0).
    const b = new Backoff(policy, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => b.next())).to.deep.equal([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(b.attempt).to.equal(7);
  });

  it('draws a full-jitter delay uniformly from 0 to the ceiling', () => {
    const b = new Backoff(policy, sequence(0.999, 0.5, 0.25));
    expect(b.next()).to.equal(0);
    expect(b.next()).to.equal(100);
    expect(b.next()).to.equal(300);
  });

  it('keeps a share of the ceiling fixed with partial jitter, and the whole ceiling without jitter', () => {
    expect(new Backoff({ ...policy, jitter: 0.2 }, () => 0.999).next()).to.equal(80);
    expect(new Backoff({ ...policy, jitter: 0 }, () => 0.999).next()).to.equal(100);
  });

  it('starts over after a reset, and stays finite after very many failures', () => {
    const b = new Backoff(policy, () => 0);
    for (let i = 0; i < 10_000; i++) b.next();
    expect(b.next()).to.equal(1000);
    b.reset();
    expect(b.attempt).to.equal(0);
    expect(b.next()).to.equal(100);
  });

  it('has its defaults defined once in the client options, and refuses bad ones', () => {
    const o = resolveOptions({ bootstrap: ['http://127.0.0.1:1'] });
    expect(o.discoveryBackoffMultiplier).to.equal(WAYMARK_CLIENT_DEFAULTS.discoveryBackoffMultiplier);
    expect(o.discoveryBackoffJitter).to.equal(1);
    expect(o.minRefreshIntervalSeconds).to.equal(WAYMARK_CLIENT_DEFAULTS.minRefreshIntervalSeconds);
    expect(() => resolveOptions({ bootstrap: ['http://127.0.0.1:1'], discoveryBackoffJitter: 1.5 })).to.throw(/discoveryBackoffJitter must be between 0 and 1/);
    expect(() => resolveOptions({ bootstrap: ['http://127.0.0.1:1'], discoveryBackoffMultiplier: 0.5 })).to.throw(/discoveryBackoffMultiplier must be at least 1/);
    expect(() => resolveOptions({ bootstrap: ['http://127.0.0.1:1'], minRefreshIntervalSeconds: -1 })).to.throw(/minRefreshIntervalSeconds must be a finite number/);
  });
});

describe('SDK Retry-After', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');

  it('reads delay-seconds and HTTP-dates, and a date in the past as no wait', () => {
    expect(retryAfterMs('7', now, 60_000)).to.equal(7000);
    expect(retryAfterMs(' 0 ', now, 60_000)).to.equal(0);
    expect(retryAfterMs('Fri, 04 Dec 2026 12:00:30 GMT', now, 60_000)).to.equal(30_000);
    expect(retryAfterMs('Fri, 04 Dec 2026 11:00:00 GMT', now, 60_000)).to.equal(0);
    expect(retryAfterMs(['3', '9'], now, 60_000)).to.equal(3000);
  });

  it('caps what a gateway may ask, and ignores what it cannot read', () => {
    expect(retryAfterMs('86400', now, 120_000)).to.equal(120_000);
    expect(retryAfterMs('Sat, 05 Dec 2026 12:00:00 GMT', now, 120_000)).to.equal(120_000);
    for (const bad of [undefined, '', '-5', '1.5', 'soon', '2026-12-04', `${'9'.repeat(80)}`, 42]) {
      expect(retryAfterMs(bad, now, 120_000), JSON.stringify(bad)).to.equal(undefined);
    }
  });
});
