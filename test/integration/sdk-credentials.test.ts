import { expect } from 'chai';
import { WaymarkClient, type InvalidTopologyError } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { startHttpStub } from '../support/http-stub.js';
import { topologyDoc } from '../support/topology-doc.js';
import { waitFor } from '../support/wait.js';

/**
 * What a client trusts: its bootstrap gateways and the documents they serve that pass the
 * validator. The application's credentials go only to gateway origins of the accepted document:
 * not to a redirect's target, a 421's alternate outside the document, or the gateway of a
 * rejected document.
 */
describe('SDK: application credentials stay with the gateways of the accepted document', function () {
  const secret = 'Bearer app-secret';
  const leaked: Array<{ path: string; authorization?: string }> = [];
  const stops: Array<() => Promise<void>> = [];
  let client: WaymarkClient | undefined;
  afterEach(async () => {
    await client?.close();
    while (stops.length) await stops.pop()!();
  });

  it('follows no redirect or foreign alternate, and ignores a document that aims a gateway at another path', async () => {
    const foreign = await startHttpStub((url, res, headers) => {
      leaked.push({ path: url.pathname, ...(headers.authorization ? { authorization: headers.authorization } : {}) });
      res.end('{}');
    });
    stops.push(() => foreign.close());
    let gatewayUrl = '';
    const doc = (revision: number, url: string): TopologyDocument =>
      topologyDoc({ revision, regions: [{ name: 'eu-west', gateways: [{ id: 'gw-1', url }] }], services: [{ name: 'hr' }] });
    const seen: string[] = [];
    const gateway = await startHttpStub((url, res, headers) => {
      if (url.pathname === '/.well-known/topology') {
        res.setHeader('content-type', 'application/json');
        // The first refresh brings a document whose gateway URL has a path (etcd's API, say): the validator refuses it.
        if (url.searchParams.has('wait')) {
          if (url.searchParams.get('wait') === '1') return res.end(JSON.stringify(doc(2, `${foreign.url}/v3`)));
          return; // held until the test ends
        }
        return res.end(JSON.stringify(doc(1, gatewayUrl)));
      }
      seen.push(`${url.pathname} ${headers.authorization ?? ''}`);
      if (url.pathname === '/hr/v1/redirect') {
        res.writeHead(307, { location: `${foreign.url}/hr/v1/x` });
        return res.end();
      }
      if (url.pathname === '/hr/v1/misdirected') {
        res.writeHead(421, { 'content-type': 'application/json', link: `<${foreign.url}/hr/v1/misdirected>; rel="alternate"` });
        return res.end(JSON.stringify({ code: 'MISDIRECTED_REQUEST', message: 'elsewhere', _links: { alternate: { href: `${foreign.url}/hr/v1/x` } } }));
      }
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    stops.push(() => gateway.close());
    gatewayUrl = gateway.url;

    const rejected: InvalidTopologyError[] = [];
    client = new WaymarkClient({ bootstrap: [gateway.url], region: 'eu-west', probeLatency: false, maxAttempts: 2 });
    client.on('rejected', (err) => rejected.push(err));
    await client.ready();
    await waitFor(() => rejected.length > 0, { what: 'the document with a gateway path to be rejected' });
    expect(rejected[0]!.message).to.match(/origin/);
    expect(client.topology()?.revision).to.equal(1);

    const headers = { Authorization: secret };
    expect((await client.request('hr', { url: '/redirect', headers, validateStatus: () => true })).status).to.equal(307);
    const misdirected = await client.request('hr', { url: '/misdirected', headers, validateStatus: () => true }).then(
      (r) => r.status,
      (err: Error) => err.name,
    );
    expect(misdirected).to.not.equal(200);
    expect((await client.request('hr', { url: '/ok', headers })).status).to.equal(200);
    expect(seen).to.include(`/hr/v1/ok ${secret}`);
    expect(leaked, 'requests that reached the foreign server').to.deep.equal([]);
  });
});
