import { expect } from 'chai';
import { Agent, AgentOptionsError, parseTarget } from '../../agent/index.js';

describe('agent: request targets and options', () => {
  it('reads the service and the path under its base path from each accepted form', () => {
    expect(parseTarget('GET', 'http://catalog/items/42?x=1', 'catalog')).to.deep.equal({ service: 'catalog', path: '/items/42?x=1' });
    expect(parseTarget('GET', 'http://catalog.waymark:80/items', 'catalog.waymark')).to.deep.equal({ service: 'catalog', path: '/items' });
    expect(parseTarget('GET', 'http://CATALOG.Waymark/', undefined)).to.deep.equal({ service: 'catalog', path: '/' });
    expect(parseTarget('GET', '/items/1', 'hr.waymark:15001')).to.deep.equal({ service: 'hr', path: '/items/1' });
    expect(parseTarget('POST', '/catalog/orders?a=b', '127.0.0.1:15001')).to.deep.equal({ service: 'catalog', path: '/orders?a=b' });
    expect(parseTarget('GET', '/catalog', '127.0.0.1:15001')).to.deep.equal({ service: 'catalog', path: '' });
    expect(parseTarget('GET', '/catalog?q=1', '127.0.0.1:15001')).to.deep.equal({ service: 'catalog', path: '?q=1' });
  });

  it('refuses what names no service, saying why', () => {
    expect(parseTarget('CONNECT', 'catalog:443', undefined)).to.include({ status: 405, code: 'CONNECT_UNSUPPORTED' });
    expect(parseTarget('GET', 'http://example.com/', 'example.com')).to.include({ status: 404, code: 'NOT_A_SERVICE' });
    expect(parseTarget('GET', 'http://bad_name.waymark/', undefined)).to.include({ status: 404, code: 'NOT_A_SERVICE' });
    expect(parseTarget('GET', 'https://catalog/', undefined)).to.include({ status: 400, code: 'INVALID_TARGET' });
    expect(parseTarget('GET', '*', undefined)).to.include({ status: 400, code: 'INVALID_TARGET' });
    expect(parseTarget('GET', '/', '127.0.0.1')).to.include({ status: 404, code: 'NO_SERVICE_IN_PATH' });
    expect(parseTarget('GET', '/%zz/x', '127.0.0.1')).to.include({ status: 404, code: 'NO_SERVICE_IN_PATH' });
    expect(parseTarget('GET', '/Upper/x', '127.0.0.1')).to.include({ status: 404, code: 'NO_SERVICE_IN_PATH' });
  });

  it('rejects bad options naming the option, before anything starts', () => {
    const client = { bootstrap: ['http://127.0.0.1:1'] };
    expect(() => new Agent({ client, port: 70_000 })).to.throw(AgentOptionsError, /port/);
    expect(() => new Agent({ client, maxRequestBytes: 0 })).to.throw(AgentOptionsError, /maxRequestBytes/);
    expect(() => new Agent({ client, host: '' })).to.throw(AgentOptionsError, /host/);
    expect(() => new Agent({} as never)).to.throw(AgentOptionsError, /client/);
    expect(() => new Agent({ client: { bootstrap: [] } })).to.throw(/bootstrap/);
  });
});
