import { expect } from 'chai';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { TopologyUnavailableError, WaymarkClient, type InvalidTopologyError } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { startBackend, startGateway, writeTopology, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const listen = async <S extends Server | TcpServer>(server: S): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
};

/**
 * A TCP server that answers every connection with a valid HTTP response carrying `body`, one
 * byte every `intervalMs`: each byte resets an idle timeout, so only a total deadline ends it.
 */
async function trickler(body: string, intervalMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    const response = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    let i = 0;
    const timer = setInterval(() => {
      if (i < response.length && !socket.destroyed) socket.write(response.subarray(i, ++i));
    }, intervalMs);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
    });
  });
  const url = await listen(server);
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A plain HTTP server that serves one fixed topology document, whatever the query. */
async function fixedGateway(doc: TopologyDocument): Promise<{ url: string; requests: number; close(): Promise<void> }> {
  const state = { requests: 0 };
  const server = createHttpServer((req, res) => {
    state.requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(doc));
  });
  const url = await listen(server);
  return {
    url,
    get requests() {
      return state.requests;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('SDK resilience (real gateways and etcd)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const env = uniqueEnv('resilient');
  const gateways: StartedGateway[] = [];
  let backend: TestBackend;
  const clients: WaymarkClient[] = [];
  const servers: Array<{ close(): Promise<void> }> = [];
  const client = (options: ConstructorParameters<typeof WaymarkClient>[0]) => {
    const c = new WaymarkClient({ probeLatency: false, ...options });
    clients.push(c);
    return c;
  };
  const gatewayDoc = async (url: string) => (await (await fetch(`${url}/.well-known/topology`)).json()) as TopologyDocument;

  before(async function () {
    backend = await startBackend('eu-west');
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: [{ ...service('catalog', ['eu-west']), deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
    });
    for (const id of ['gw-a', 'gw-b']) gateways.push(await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id }));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const s of servers.splice(0)) await s.close();
  });

  after(async () => {
    for (const g of gateways) await g.close();
    await backend?.close();
  });

  it('gives up on a gateway that trickles its document within discoveryTimeoutMs, and ready() settles', async () => {
    const slow = await trickler(JSON.stringify(await gatewayDoc(gateways[0]!.url)), 200);
    servers.push(slow);
    const started = Date.now();
    const alone = client({ bootstrap: [slow.url], discoveryTimeoutMs: 1000 });
    const pending = new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('ready() still pending after 10 s')), 10_000).unref());
    const err = await Promise.race([
      alone.ready().then(
        () => new Error('ready() resolved from a trickled document'),
        (e: unknown) => e,
      ),
      pending,
    ]);
    const ms = Date.now() - started;
    expect(err).to.be.instanceOf(TopologyUnavailableError);
    expect((err as TopologyUnavailableError).failures[0]!.error).to.match(/DISCOVERY_TIMEOUT: no complete topology from .* within 1000 ms/);
    expect(ms).to.be.within(900, 3000);

    // With a good gateway after it, ready() resolves from that one once the deadline cut the first.
    const next = client({ bootstrap: [slow.url, gateways[0]!.url], discoveryTimeoutMs: 1000 });
    const t = Date.now();
    await next.ready();
    expect(Date.now() - t).to.be.below(3000);
    expect(next.topology()?.environment).to.equal(env);
  });

  it('recovers from a gateway that serves revision 2^53−1 and keeps following the real gateways', async () => {
    const real = await gatewayDoc(gateways[0]!.url);
    const liar = await fixedGateway({ ...real, revision: Number.MAX_SAFE_INTEGER });
    servers.push(liar);
    const c = client({ bootstrap: [liar.url, gateways[0]!.url, gateways[1]!.url], environment: env, region: 'eu-west', longPollSeconds: 5 });
    const rejected: InvalidTopologyError[] = [];
    c.on('rejected', (e) => rejected.push(e));
    await c.ready();
    // The liar answered first; two real gateways contradict it, so the client comes back.
    await waitFor(() => c.topology()!.revision < Number.MAX_SAFE_INTEGER, { timeoutMs: 10_000, what: 'the real revision after the lie' });

    for (const name of ['orders', 'billing']) {
      const revision = await writeTopology(ctx.conn, ctx.layout, env, {
        services: [{ ...service(name, ['eu-west']), deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
      });
      await waitFor(() => c.topology()!.revision >= revision && c.topology()!.services.some((s) => s.name === name), {
        timeoutMs: 10_000,
        what: `the client to follow the real gateways to revision ${revision} (${name})`,
      });
    }
    expect(c.topology()!.revision).to.be.below(Number.MAX_SAFE_INTEGER);
    const res = await c.request<{ backend: string }>('billing', { url: '/x' });
    expect(res.status).to.equal(200);
    expect(rejected.every((e) => e.reason === 'unconfirmed' || e.reason === 'rollback')).to.equal(true);
  });
});
