import { expect } from 'chai';
import type { ApiError } from '../../openapi/index.js';
import type { RequestInfo } from '../../gateway/index.js';
import { writeTopology, useScene } from '../support/gateway.js';
import { startRawBackend } from '../support/raw-http.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/**
 * An upstream that answers `101 Switching Protocols` to a request that asked for no upgrade (or
 * cuts its answer) must not hang the exchange nor be counted as what it is not: the client gets a
 * 502 with a clear code within the upstream timeout, and logs and metrics say what it got.
 */
describe('upstreams that switch protocols or cut their answer (raw-socket backends, real etcd)', function () {
  const ctx = useEtcd();
  const scene = useScene(ctx);

  async function gatewayFor(answer: Parameters<typeof startRawBackend>[0]) {
    const backend = await startRawBackend(answer);
    scene.defer(() => backend.close());
    const env = uniqueEnv('proto');
    await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU')], services: [serviceWith('raw', { 'eu-west': [backend.url] })] });
    const gw = await scene.gateway(env, 'eu-west', 'gw-1', { upstreamTimeoutMs: 1500 });
    const requests: RequestInfo[] = [];
    gw.gateway.on('request', (info) => requests.push(info));
    return { gw, requests };
  }

  const metricLines = async (url: string) => (await (await fetch(`${url}/metrics`)).text()).split('\n').filter((l) => l.includes('service="raw"'));

  for (const [what, head] of [
    ['101 with Upgrade headers', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['a bare 101', 'HTTP/1.1 101 Switching Protocols\r\n\r\n'],
  ] as const) {
    it(`answers 502 UPSTREAM_PROTOCOL to ${what} on a plain GET, in time, and counts and logs a 502`, async () => {
      // The upstream then holds the connection open without a byte more.
      const { gw, requests } = await gatewayFor((socket) => socket.write(head));
      const res = await fetch(`${gw.url}/raw/v1/x`, { signal: AbortSignal.timeout(20_000) });
      const body = (await res.json()) as ApiError;
      expect([res.status, body.code]).to.deep.equal([502, 'UPSTREAM_PROTOCOL']);
      expect(body.message).to.contain('101');
      await waitFor(() => requests.length > 0, { what: 'the request log' });
      expect(requests.map((r) => [r.status, r.aborted ?? false])).to.deep.equal([[502, false]]);
      const lines = await metricLines(gw.url);
      expect(lines.filter((l) => l.startsWith('waymark_gateway_requests_total') && l.includes('status="502"')).length).to.equal(1);
      expect(lines.filter((l) => l.startsWith('waymark_gateway_requests_total') && /status="(101|200)"/.test(l))).to.deep.equal([]);
    });
  }

  it('cuts the answer of an upstream that goes quiet mid-body (upstream timeout), and counts and logs it as aborted, not 200', async () => {
    const { gw, requests } = await gatewayFor((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    const res = await fetch(`${gw.url}/raw/v1/x`, { signal: AbortSignal.timeout(20_000) });
    expect(res.status).to.equal(200);
    let cut = false;
    try {
      await res.text();
    } catch {
      cut = true;
    }
    expect(cut, 'the body is cut when the upstream goes quiet').to.equal(true);
    await waitFor(() => requests.length > 0, { what: 'the request log' });
    expect(requests.map((r) => [r.status, r.aborted])).to.deep.equal([[200, true]]);
    const lines = await metricLines(gw.url);
    expect(lines.filter((l) => l.startsWith('waymark_gateway_requests_total') && l.includes('status="200"'))).to.deep.equal([]);
    expect(lines.filter((l) => l.startsWith('waymark_gateway_requests_total') && l.includes('status="aborted"')).length).to.equal(1);
  });
});
