import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Upstream } from '../../gateway/routes.js';
import { UpstreamPools } from '../../gateway/upstream-pools.js';
import { waitFor } from '../support/wait.js';

describe('gateway upstream pools (undici, real loopback server)', () => {
  let server: Server;
  let up: Upstream;
  let pools: UpstreamPools;

  beforeEach(async () => {
    server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    up = { href: `http://127.0.0.1:${port}`, protocol: 'http:', hostname: '127.0.0.1', port, host: `127.0.0.1:${port}`, pathPrefix: '' };
    pools = new UpstreamPools({ upstreamMaxSockets: 4, upstreamUploadShare: 0.25, upstreamConnectTimeoutMs: 2000, upstreamTimeoutMs: 5000 });
  });

  afterEach(async () => {
    pools.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const get = async (pool: ReturnType<UpstreamPools['pool']>) => (await (await pool.request({ path: '/', method: 'GET' })).body.text()) as string;

  it('keeps one pool per service and use, reused while connected', async () => {
    const a = pools.pool('a', up, 'service');
    expect(await get(a)).to.equal('ok');
    expect(pools.pool('a', up, 'service')).to.equal(a);
    expect(pools.pool('b', up, 'service')).not.to.equal(a);
    expect(pools.pool('a', up, 'dispatch')).not.to.equal(a);
  });

  it('forgets an origin once its connections are gone (upstreams come and go)', async () => {
    const a = pools.pool('a', up, 'service');
    expect(await get(a)).to.equal('ok');
    server.closeAllConnections();
    await waitFor(() => pools.pool('a', up, 'service') !== a, { what: 'the idle origin to be forgotten' });
    expect(await get(pools.pool('a', up, 'service'))).to.equal('ok');
  });

  it('caps streamed uploads at their share of the sockets, per service', () => {
    const release = pools.claimUpload('a');
    expect(release).to.be.a('function');
    expect(pools.claimUpload('a')).to.equal(undefined);
    expect(pools.claimUpload('b')).to.be.a('function');
    release?.();
    expect(pools.claimUpload('a')).to.be.a('function');
  });
});
