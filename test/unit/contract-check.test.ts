import { expect } from 'chai';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Contract, type ObservedResponse } from '../support/contract.js';
import { takeViolations } from '../support/contract-hooks.js';
import { registerServer } from '../support/contract-servers.js';

const contract = Contract.load();
const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };
const error = JSON.stringify({ code: 'NOT_FOUND', message: 'no such thing' });

function check(r: Partial<ObservedResponse> & Pick<ObservedResponse, 'path' | 'status'>): ReturnType<Contract['check']> {
  return contract.check({ role: 'gateway', method: 'GET', headers: JSON_TYPE, ...r });
}

describe('the contract checker (test/support/contract.ts)', () => {
  it('accepts declared answers: an error body, a 304 without body, a relayed answer of any status', () => {
    expect(check({ role: 'registry', path: '/v1/nothing', status: 404, body: error }).problems).to.deep.equal([]);
    expect(check({ path: '/.well-known/topology', status: 304, headers: {} }).problems).to.deep.equal([]);
    const relayed = check({ path: '/hr/v1/x', status: 418, headers: { via: '1.1 gw-eu-west' }, body: 'teapot' });
    expect([relayed.template, relayed.proxied, relayed.problems]).to.deep.equal(['/{servicePath}', true, []]);
    const misdirected = check({ path: '/hr/v1/x', status: 421, headers: { ...JSON_TYPE, link: '<http://gw>; rel="alternate"' }, body: error });
    expect(misdirected.problems).to.deep.equal([]);
  });

  it('refuses a body that breaks its schema, naming the field', () => {
    const bad = check({ path: '/.well-known/topology', status: 200, body: JSON.stringify({ environment: 'prod', revision: -1 }) });
    expect(bad.template).to.equal('/.well-known/topology');
    expect(bad.problems.join('\n')).to.match(/body: must have required property 'stale'/).and.to.match(/body\/revision: must be >= 0/);
    expect(check({ role: 'registry', path: '/v1/environments', status: 200, body: 'not json' }).problems[0]).to.match(/not JSON/);
  });

  it('refuses an undeclared status, a missing required header, an undeclared content type', () => {
    expect(check({ role: 'registry', path: '/v1/environments', status: 418, body: error }).problems).to.deep.equal(['status 418 is not declared']);
    expect(check({ path: '/hr/v1/x', status: 418, body: error }).problems[0]).to.match(/not declared \(and no Via/);
    expect(check({ path: '/hr/v1/x', status: 421, body: error }).problems).to.deep.equal(['header Link is required']);
    expect(check({ method: 'POST', path: '/healthz', status: 405, body: error }).problems).to.deep.equal(['405 without Allow']);
    expect(check({ role: 'registry', path: '/v1/environments', status: 401, body: error }).problems).to.deep.equal(['header WWW-Authenticate is required']);
    expect(check({ path: '/readyz', status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }).problems[0]).to.match(/content type "text\/plain" is not declared/);
    expect(check({ role: 'registry', path: '/v1/nothing', status: 200, body: '{}' }).problems[0]).to.match(/does not declare \(expected 404\)/);
  });

  it('sees responses of a registered server through fetch and http.get, and fails them (root hook)', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, JSON_TYPE);
      res.end(JSON.stringify({ environment: 'prod' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const path = '/v1/environments/contract-selftest/status';
    try {
      await (await fetch(`${url}${path}`)).text();
      expect(await takeViolations(path), 'not registered: not checked').to.deep.equal([]);
      const unregister = registerServer(url, 'registry');
      await (await fetch(`${url}${path}`)).text();
      await new Promise<void>((resolve, reject) => get(`${url}${path}`, (res) => res.resume().once('end', resolve)).once('error', reject));
      unregister();
      const seen = await takeViolations(path);
      expect(seen.map((v) => [v.method, v.template, v.status])).to.deep.equal([
        ['GET', '/v1/environments/{env}/status', 200],
        ['GET', '/v1/environments/{env}/status', 200],
      ]);
      expect(seen[0].problems.join('\n')).to.match(/required property 'revision'/);
    } finally {
      server.close();
    }
  });
});
