import { expect } from 'chai';
import { basePathProblem, gatewayUrlProblem, isValidJurisdiction, isValidName } from '../../topology/index.js';

/** The core rules, one verdict for the registry, the gateway and the SDK. */
describe('topology rules (the neutral core)', () => {
  it('names are DNS labels', () => {
    for (const ok of ['a', 'eu-west', 'x1', 'a'.repeat(63)]) expect(isValidName(ok), ok).to.equal(true);
    for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'a.b', 'a'.repeat(64), '../x', 'é', 7, null]) expect(isValidName(bad), String(bad)).to.equal(false);
  });

  it('jurisdictions are upper-case codes', () => {
    for (const ok of ['EU', 'US-CA', 'X']) expect(isValidJurisdiction(ok), ok).to.equal(true);
    for (const bad of ['eu', '', '1EU', 'E U', 'E'.repeat(33)]) expect(isValidJurisdiction(bad), bad).to.equal(false);
  });

  it('base paths are absolute, without empty, dot, encoded-separator or reserved segments', () => {
    for (const ok of ['/', '/hr', '/hr/v1', '/hr/v1/', '/a%20b', "/a-b_c.d~e!$&'()*+,=:@"]) expect(basePathProblem(ok), ok).to.equal(undefined);
    const bad: Array<[unknown, RegExp]> = [
      ['hr', /not a base path/],
      ['/hr//v1', /not a base path/],
      ['/hr?x=1', /not a base path/],
      ['/hr#f', /not a base path/],
      ['/hr/../x', /'\.' or '\.\.'/],
      ['/./x', /'\.' or '\.\.'/],
      ['/a%2fb', /must not encode/],
      ['/x/%2E%2E', /must not encode/],
      ['/a%00', /must not encode/],
      ['/a%5c', /must not encode/],
      ['/a%zz', /malformed percent-encoding/],
      ['/a;jsessionid=1', /';' path parameters/],
      ['/.well-known/topology', /reserved/],
      ['/.WELL-KNOWN', /reserved/],
      ['/healthz', /reserved/],
      ['/readyz/', /reserved/],
      ['/metrics/x', /reserved/],
      [42, /must be a string/],
    ];
    for (const [value, why] of bad) expect(basePathProblem(value), String(value)).to.match(why);
    expect(basePathProblem('/metricsx'), 'a prefix that is not a segment is not reserved').to.equal(undefined);
  });

  it('gateway URLs are http(s) origins without credentials, query, fragment, path or unsafe characters', () => {
    for (const ok of ['http://127.0.0.1:8090', 'https://eu.api.example.com', 'https://eu.api.example.com/', 'http://[::1]:80']) {
      expect(gatewayUrlProblem(ok), ok).to.equal(undefined);
    }
    const bad: Array<[unknown, RegExp]> = [
      ['javascript:alert(1)', /http\(s\)/],
      ['file:///etc/passwd', /http\(s\)/],
      ['http://u:p@gw.example', /credentials/],
      ['http://gw.example/?a=1', /query/],
      ['http://gw.example/#x', /fragment/],
      ['http://127.0.0.1:2379/v3', /origin/],
      ['http://gw.example\r\nX-Evil: 1', /control/],
      ['http://gw.example\t', /control/],
      ['http://gw.example/<script>', /unsafe/],
      ['gw.example', /absolute URL/],
      ['http://' + 'a'.repeat(3000), /at most/],
      [null, /must be a string/],
    ];
    for (const [value, why] of bad) expect(gatewayUrlProblem(value), String(value)).to.match(why);
  });
});
