import { expect } from 'chai';
import { InvalidOptionsError } from '../../client-sdk/errors.js';
import { resolveOptions, WAYMARK_CLIENT_DEFAULTS } from '../../client-sdk/options.js';

describe('SDK options', () => {
  it('applies every default and normalizes bootstrap URLs', () => {
    const o = resolveOptions({ bootstrap: ['https://eu.example.com/', 'http://127.0.0.1:8081'] });
    expect(o.bootstrap).to.deep.equal(['https://eu.example.com', 'http://127.0.0.1:8081']);
    for (const [key, value] of Object.entries(WAYMARK_CLIENT_DEFAULTS)) expect(o[key as keyof typeof o], key).to.equal(value);
    expect(o.region).to.equal(undefined);
  });

  it('keeps the values given', () => {
    const o = resolveOptions({ bootstrap: ['http://gw'], region: 'eu-west', attemptTimeoutMs: 250, probeLatency: false });
    expect([o.region, o.attemptTimeoutMs, o.probeLatency]).to.deep.equal(['eu-west', 250, false]);
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ['no bootstrap', { bootstrap: [] }, 'bootstrap must list'],
    ['a non-http bootstrap', { bootstrap: ['file:///tmp/x'] }, 'bootstrap[0] must be an http(s) URL'],
    ['a bootstrap with credentials', { bootstrap: ['https://u:p@gw'] }, 'bootstrap[0] must be a plain base URL'],
    ['a negative timeout', { bootstrap: ['http://gw'], attemptTimeoutMs: -1 }, 'attemptTimeoutMs must be a finite number'],
    ['a string number', { bootstrap: ['http://gw'], maxAttempts: '3' }, 'maxAttempts must be a finite number'],
    ['a ratio above 1', { bootstrap: ['http://gw'], retryBudgetRatio: 2 }, 'retryBudgetRatio'],
    ['a bad region', { bootstrap: ['http://gw'], region: 'EU West' }, 'region must be a DNS label'],
  ];
  for (const [what, options, message] of bad) {
    it(`rejects ${what}, naming the option`, () => {
      expect(() => resolveOptions(options as never))
        .to.throw(InvalidOptionsError)
        .with.property('message')
        .that.includes(message);
    });
  }
});
