import { buildDocument } from '../../gateway/document.js';
import { expect } from 'chai';
import fc from 'fast-check';
import type { ServiceDefinition } from '../../openapi/index.js';
import { TopologySnapshot } from '../../store/index.js';
import { parseTarget } from '../../gateway/request-target.js';
import { chooseDeployment, RouteTable } from '../../gateway/routes.js';
import { GatewayHttpError } from '../../gateway/errors.js';

function snapshot(services: ServiceDefinition[]): TopologySnapshot {
  return new TopologySnapshot(
    'prod',
    7,
    new Map([
      ['eu-west', { name: 'eu-west', jurisdiction: 'EU' }],
      ['us-east', { name: 'us-east', jurisdiction: 'US' }],
      ['ap-south', { name: 'ap-south', jurisdiction: 'APAC' }],
    ]),
    new Map(services.map((s) => [s.name, s])),
    new Map([
      ['us-east/gw-u', { id: 'gw-u', region: 'us-east', url: 'http://u.example', status: 'up' as const, startedAt: '2026-01-01T00:00:00Z' }],
      ['eu-west/gw-e', { id: 'gw-e', region: 'eu-west', url: 'http://e.example', status: 'up' as const, startedAt: '2026-01-01T00:00:00Z' }],
    ]),
  );
}

function table(services: ServiceDefinition[], region = 'eu-west'): RouteTable {
  const snap = snapshot(services);
  const doc = buildDocument(snap, { maxStaleSeconds: 60, refreshIntervalSeconds: 30, refreshJitterSeconds: 5 });
  return RouteTable.build(snap, doc, { region, id: 'gw-e' });
}

const svc = (name: string, basePath: string, extra: Partial<ServiceDefinition> = {}): ServiceDefinition => ({
  name,
  basePath,
  placement: 'regional',
  deployments: [{ region: 'eu-west', upstreams: [`http://10.0.0.1:8080/${name}`] }],
  ...extra,
});

describe('gateway route table', () => {
  it('matches the longest base path at segment boundaries', () => {
    const t = table([svc('api', '/api'), svc('admin', '/api/admin/'), svc('hr', '/hr/v1')]);
    expect(t.match('/api/admin/users')?.name).to.equal('admin');
    expect(t.match('/api/admin')?.name).to.equal('admin');
    expect(t.match('/api/admin/')?.name).to.equal('admin');
    expect(t.match('/api/administrators')?.name).to.equal('api');
    expect(t.match('/api')?.name).to.equal('api');
    expect(t.match('/apix')).to.equal(undefined);
    expect(t.match('/hr/v1/a/b/c/d/e/f/g')?.name).to.equal('hr');
    expect(t.match('/hr/v10')).to.equal(undefined);
    expect(t.match('/')).to.equal(undefined);
    expect(table([svc('root', '/')]).match('/anything/at/all')?.name).to.equal('root');
  });

  it('agrees with a linear scan on random paths', () => {
    const bases = ['/a', '/a/b', '/a/bc', '/b/c/d', '/c'];
    const t = table(bases.map((b, i) => svc(`s${i}`, b)));
    const segment = fc.constantFrom('a', 'b', 'bc', 'c', 'd', 'x', '');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), (segs) => {
        const path = `/${segs.join('/')}`;
        const expected = bases
          .filter((b) => path === b || path.startsWith(`${b}/`))
          .sort((x, y) => y.length - x.length)[0];
        expect(t.match(path)?.service.basePath, path).to.equal(expected);
      }),
    );
  });

  it('decides per service whether this gateway proxies it, and where to', () => {
    const t = table([
      svc('hr', '/hr'),
      svc('crm', '/crm', { deployments: [{ region: 'us-east', upstreams: ['http://10.0.0.2'] }] }),
      svc('search', '/search', {
        placement: 'global',
        failover: ['ap-south'],
        deployments: [
          { region: 'us-east', upstreams: ['http://10.0.0.3'] },
          { region: 'ap-south', upstreams: ['http://10.0.0.4'] },
        ],
      }),
      svc('vault', '/vault', {
        placement: 'pinned',
        jurisdictions: ['US'],
        deployments: [
          { region: 'eu-west', upstreams: ['http://10.0.0.5'] },
          { region: 'us-east', upstreams: ['http://10.0.0.6'] },
        ],
      }),
    ]);
    const hr = t.service('hr')!;
    expect(hr.servedHere).to.equal(true);
    expect(hr.upstreams.map((u) => [u.hostname, u.port, u.pathPrefix])).to.deep.equal([['10.0.0.1', 8080, '/hr']]);
    const crm = t.service('crm')!;
    expect(crm.servedHere).to.equal(false);
    expect(crm.alternates().map((g) => g.id)).to.deep.equal(['gw-u']);
    expect(crm.upstreamsForDispatch(true, false)?.map((u) => u.host)).to.deep.equal(['u.example']);
    expect(crm.upstreamsForDispatch(true, true)).to.equal(undefined);
    expect(crm.upstreamsForDispatch(false, false)).to.equal(undefined);
    const search = t.service('search')!;
    expect(search.servedHere).to.equal(true);
    expect(search.upstreamRegion).to.equal('ap-south');
    const vault = t.service('vault')!;
    expect(vault.servedHere).to.equal(false);
    expect(vault.alternates().map((g) => g.id)).to.deep.equal(['gw-u']);
    expect(vault.upstreamsForDispatch(true, false)).to.equal(undefined);
  });

  it('picks a global service\'s deployment: own region, failover order, then by name', () => {
    const def = (failover?: string[]): ServiceDefinition => ({
      name: 's',
      basePath: '/s',
      placement: 'global',
      ...(failover ? { failover } : {}),
      deployments: [
        { region: 'us-east', upstreams: ['http://u'] },
        { region: 'ap-south', upstreams: ['http://a'] },
      ],
    });
    expect(chooseDeployment(def(), 'us-east')?.region).to.equal('us-east');
    expect(chooseDeployment(def(['us-east']), 'eu-west')?.region).to.equal('us-east');
    expect(chooseDeployment(def(), 'eu-west')?.region).to.equal('ap-south');
    expect(chooseDeployment({ ...def(), placement: 'regional' }, 'eu-west')).to.equal(undefined);
  });
});

describe('gateway request targets', () => {
  const refused = (url: string) => {
    try {
      parseTarget(url);
    } catch (err) {
      return err instanceof GatewayHttpError && err.status === 400;
    }
    return false;
  };

  it('keeps ordinary paths and queries as they are', () => {
    expect(parseTarget('/hr/v1/x?a=1&b=%2e%2e')).to.deep.equal({ path: '/hr/v1/x', query: '?a=1&b=%2e%2e' });
    expect(parseTarget('/hr/v1/a%20b')).to.deep.equal({ path: '/hr/v1/a%20b', query: '' });
    expect(parseTarget('/hr/v1/file.tar.gz').path).to.equal('/hr/v1/file.tar.gz');
    expect(parseTarget('/hr/v1/.well-hidden').path).to.equal('/hr/v1/.well-hidden');
    expect(parseTarget('//hr///v1/').path).to.equal('/hr/v1/');
  });

  it('takes an absolute-form target by its path alone (RFC 9112 §3.2.2), its authority only as the Host', () => {
    expect(parseTarget('http://evil.example/hr/v1/x?a=1')).to.deep.equal({ path: '/hr/v1/x', query: '?a=1', authority: 'evil.example' });
    expect(parseTarget('HTTPS://GW.example:8443')).to.deep.equal({ path: '/', query: '', authority: 'gw.example:8443' });
    expect(parseTarget('http://[::1]:80/?q')).to.deep.equal({ path: '/', query: '?q', authority: '[::1]:80' });
    expect(() => parseTarget('http://evil/hr/../x'), 'the path is checked as in origin form').to.throw(/dot segment/);
  });

  it('refuses every spelling of a dot segment, encoded separators and non-origin forms', () => {
    for (const url of [
      'http://user:pw@evil/x',
      'http://evil:x/',
      'ftp://evil/x',
      '*',
      'hr/v1',
      '',
      '/hr/v1/..',
      '/hr/v1/../x',
      '/hr/./x',
      '/hr/%2e%2e/x',
      '/hr/%2E%2E/x',
      '/hr/.%2e/x',
      '/hr/%2e./x',
      '/hr/%2e/x',
      '/hr/a%2fb',
      '/hr/a%2Fb',
      '/hr/a%5cb',
      '/hr/a%00b',
      '/hr\\..\\x',
      '/hr/%zz',
      '/hr/%2',
      '/hr/x#frag',
    ]) {
      expect(refused(url), url).to.equal(true);
    }
  });

  it('refuses dot segments hidden behind ;-parameters, double encoding, overlong UTF-8 and look-alikes', () => {
    for (const url of [
      '/hr/..;/x',
      '/hr/..;jsessionid=1/x',
      '/hr/.;/x',
      '/hr/%2e%2e;/x',
      '/hr/..%3b/x',
      '/hr/..%3B/x',
      '/hr/..;',
      '/hr/%252e%252e/x',
      '/hr/%252E./x',
      '/hr/a%252fb',
      '/hr/a%255cb',
      '/hr/a%2500b',
      '/hr/%c0%ae%c0%ae/x',
      '/hr/%C0%AE./x',
      '/hr/%e0%80%ae%e0%80%ae/x',
      '/hr/%c0%af',
      '/hr/%ef%bc%8e%ef%bc%8e/x',
      '/hr/%e2%80%a4%e2%80%a4/x',
      '/hr/%ff',
    ]) {
      expect(refused(url), url).to.equal(true);
    }
  });

  it('decodes escapes of unreserved characters before matching, and keeps every other escape', () => {
    expect(parseTarget('/h%72/v1/%7Euser/x%41%2D%5f%2e').path).to.equal('/hr/v1/~user/xA-_.');
    expect(parseTarget('/hr/v1/a%20b%2Cc%3Bd%25e').path).to.equal('/hr/v1/a%20b%2Cc%3Bd%25e');
    expect(parseTarget('/hr/v1/caf%C3%A9;v=1').path).to.equal('/hr/v1/caf%C3%A9;v=1');
    expect(parseTarget('/hr/v1/x?%2e%2e=%2f').query).to.equal('?%2e%2e=%2f');
  });

  it('never lets a path that passes climb above its first segment', () => {
    const part = fc.constantFrom('a', '.', '..', '%2e', '%2E%2e', '%2f', '', 'b%20c', '.x');
    fc.assert(
      fc.property(fc.array(part, { maxLength: 6 }), (parts) => {
        const url = `/svc/${parts.join('/')}`;
        let path: string;
        try {
          path = parseTarget(url).path;
        } catch {
          return;
        }
        const resolved = new URL(path, 'http://h').pathname;
        expect(resolved.startsWith('/svc'), url).to.equal(true);
        expect(decodeURIComponent(path).split('/')).not.to.include('..');
      }),
    );
  });
});
