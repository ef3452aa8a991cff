import { expect } from 'chai';
import { RetryBudget } from '../../client-sdk/budget.js';
import { Ejector } from '../../client-sdk/ejection.js';

describe('SDK outlier ejection', () => {
  let now = 1_000_000;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('ejects a gateway for the base time, doubling while it keeps failing, up to the ceiling', () => {
    const e = new Ejector({ baseMs: 1000, maxMs: 5000 }, clock);
    expect(e.eject('a')).to.equal(now + 1000);
    expect(e.isEjected('a')).to.equal(true);
    now += 1001;
    expect(e.isEjected('a')).to.equal(false);
    expect(e.eject('a') - now).to.equal(2000);
    now += 2001;
    expect(e.eject('a') - now).to.equal(4000);
    now += 4001;
    expect(e.eject('a') - now).to.equal(5000);
  });

  it('does not extend an ejection for failures of calls already in flight', () => {
    const e = new Ejector({ baseMs: 1000, maxMs: 60_000 }, clock);
    const until = e.eject('a');
    now += 500;
    expect(e.eject('a')).to.equal(until);
    now += 501;
    expect(e.eject('a') - now).to.equal(2000);
  });

  it('forgets a gateway after a success', () => {
    const e = new Ejector({ baseMs: 1000, maxMs: 60_000 }, clock);
    e.eject('a');
    now += 1001;
    e.succeeded('a');
    expect(e.eject('a') - now).to.equal(1000);
  });

  it('moves ejected items to the end, soonest back first, keeping the order of the others', () => {
    const e = new Ejector({ baseMs: 1000, maxMs: 60_000 }, clock);
    e.eject('b');
    e.eject('b-svc');
    now += 1001;
    e.eject('b'); // 2000 ms now
    e.eject('a'); // 1000 ms
    const items = ['a', 'b', 'c', 'd'];
    expect(e.order(items, (x) => [x])).to.deep.equal(['c', 'd', 'a', 'b']);
    // An item is ejected when any of its keys is.
    expect(e.order(['x', 'y'], (x) => (x === 'x' ? ['x', 'a'] : ['y']))).to.deep.equal(['y', 'x']);
    now += 2001;
    expect(e.order(items, (x) => [x])).to.deep.equal(items);
  });
});

describe('SDK retry budget', () => {
  let now = 5_000_000;
  const clock = () => now;
  beforeEach(() => {
    now = 5_000_000;
  });

  it('always allows the floor of retries, then no more', () => {
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 }, clock);
    let allowed = 0;
    for (let i = 0; i < 50; i++) if (b.tryRetry()) allowed++;
    expect(allowed).to.equal(10);
  });

  it('allows retries up to the ratio of calls over the window, plus the floor', () => {
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, clock);
    for (let i = 0; i < 1000; i++) b.recordCall();
    let allowed = 0;
    for (let i = 0; i < 1000; i++) if (b.tryRetry()) allowed++;
    expect(allowed).to.equal(200);
  });

  it('forgets calls and retries older than the window', () => {
    const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 1000 }, clock);
    for (let i = 0; i < 10; i++) b.recordCall();
    while (b.tryRetry());
    expect(b.tryRetry()).to.equal(false);
    now += 1100;
    expect(b.tryRetry()).to.equal(false); // the calls left the window too
    for (let i = 0; i < 4; i++) b.recordCall();
    expect(b.tryRetry()).to.equal(true);
    expect(b.tryRetry()).to.equal(true);
    expect(b.tryRetry()).to.equal(false);
  });
});
