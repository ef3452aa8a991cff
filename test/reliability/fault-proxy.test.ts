import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

/** A TCP echo server that counts what it received and ends its side when the client does. */
async function startEcho(): Promise<{ port: number; received: () => number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let received = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('data', (d: Buffer) => {
      received += d.length;
      s.write(d);
    });
    s.on('end', () => s.end());
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    received: () => received,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client socket that records what it got and how it ended. */
interface Client {
  socket: Socket;
  data: () => string;
  ended: () => boolean;
  error: () => NodeJS.ErrnoException | undefined;
  closed: () => boolean;
}

function client(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    let data = '';
    let ended = false;
    let closed = false;
    let error: NodeJS.ErrnoException | undefined;
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('end', () => (ended = true));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
    socket.on('close', () => (closed = true));
    socket.once('connect', () =>
      resolve({ socket, data: () => data, ended: () => ended, error: () => error, closed: () => closed }),
    );
    socket.once('error', reject);
  });
}

describe('fault proxy (userland TCP faults against an echo server)', function () {
  this.timeout(10_000);
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: FaultProxy;
  const clients: Client[] = [];
  const open = async () => {
    const c = await client(proxy.port);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    echo = await startEcho();
    proxy = await startFaultProxy({ target: `127.0.0.1:${echo.port}` });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await proxy.close();
    await echo.close();
  });

  it('forwards both ways, counts bytes and passes a half-close on', async () => {
    const c = await open();
    c.socket.write('hello ');
    c.socket.write('world');
    await waitFor(() => c.data() === 'hello world', { what: 'the echo' });
    expect(proxy.bytes).to.deep.equal({ toTarget: 11, toClient: 11 });
    expect(proxy.connections).to.equal(1);
    c.socket.end();
    await waitFor(() => c.ended() && c.closed(), { what: 'the echo server to end its side through the proxy' });
    await waitFor(() => proxy.connections === 0, { what: 'the proxy to forget the connection' });
  });

  it('accepts { host, port } targets and rejects malformed ones', async () => {
    const other = await startFaultProxy({ target: { host: '127.0.0.1', port: echo.port } });
    try {
      const c = await client(other.port);
      c.socket.write('x');
      await waitFor(() => c.data() === 'x', { what: 'the echo' });
      c.socket.destroy();
    } finally {
      await other.close();
    }
    let err: unknown;
    try {
      await startFaultProxy({ target: 'no-port' });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/must be 'host:port'/);
  });

  it('delays each chunk per direction, keeping the order', async () => {
    const c = await open();
    proxy.delay(150, 'toClient');
    expect(proxy.state.delayMs).to.deep.equal({ toTarget: 0, toClient: 150 });
    const started = Date.now();
    for (let i = 0; i < 20; i++) c.socket.write(`${i},`);
    await waitFor(() => echo.received() === c.socket.bytesWritten, { what: 'the server to get the requests' });
    const requestMs = Date.now() - started;
    const expected = Array.from({ length: 20 }, (_, i) => `${i},`).join('');
    await waitFor(() => c.data() === expected, { what: 'the delayed echo' });
    const roundTripMs = Date.now() - started;
    expect(requestMs, 'the request direction is not delayed').to.be.below(140);
    expect(roundTripMs).to.be.at.least(145);

    proxy.delay(100, 'both');
    const again = Date.now();
    c.socket.write('z');
    await waitFor(() => c.data().endsWith('z'), { what: 'the echo delayed both ways' });
    expect(Date.now() - again).to.be.at.least(195);
    proxy.heal();
    const healed = Date.now();
    c.socket.write('y');
    await waitFor(() => c.data().endsWith('y'), { what: 'the undelayed echo' });
    expect(Date.now() - healed).to.be.below(95);
  });

  it('suspends one direction, buffering, and delivers everything on resume', async () => {
    const c = await open();
    proxy.suspend('toClient');
    c.socket.write('abc');
    await waitFor(() => echo.received() === 3, { what: 'the request to pass' });
    c.socket.write('def');
    await waitFor(() => echo.received() === 6, { what: 'the second request to pass' });
    expect(c.data()).to.equal('');
    proxy.suspend('toTarget');
    c.socket.write('ghi');
    proxy.resume('toClient');
    await waitFor(() => c.data() === 'abcdef', { what: 'the held responses' });
    expect(echo.received()).to.equal(6);
    proxy.resume();
    await waitFor(() => c.data() === 'abcdefghi', { what: 'the held request and its echo' });
    expect(proxy.connections).to.equal(1);
  });

  it('carries megabytes intact through a suspension larger than its buffer', async function () {
    // 3 MiB each way through userland sockets: slow on a loaded machine, so the deadlines are generous.
    this.timeout(70_000);
    const c = await open();
    const received: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => received.push(d));
    const payload = randomBytes(3 * 1024 * 1024);
    proxy.suspend('toClient');
    c.socket.write(payload);
    await waitFor(() => echo.received() === payload.length, { what: 'the server to receive 3 MiB', timeoutMs: 30_000 });
    expect(received.length).to.equal(0);
    proxy.resume();
    await waitFor(() => Buffer.concat(received).length === payload.length, { what: '3 MiB echoed', timeoutMs: 30_000 });
    expect(Buffer.concat(received).equals(payload)).to.equal(true);
  });

  it('holds connections open in a black hole, forwarding nothing, and resets them on heal', async () => {
    const before = await open();
    before.socket.write('a');
    await waitFor(() => before.data() === 'a', { what: 'the first echo' });
    proxy.blackhole();
    before.socket.write('lost');
    const during = await open();
    during.socket.write('also lost');
    await waitFor(() => proxy.connections === 2, { what: 'the proxy to accept into the black hole' });
    // Nothing may arrive anywhere; a fresh echo connection straight to the server shows time passed.
    const direct = await client(echo.port);
    direct.socket.write('ping');
    await waitFor(() => direct.data() === 'ping', { what: 'a direct echo' });
    direct.socket.destroy();
    await waitFor(() => echo.received() === 1 + 4, { what: 'the direct echo to be counted' });
    expect(before.data()).to.equal('a');
    expect(during.data()).to.equal('');
    expect(before.closed() || during.closed()).to.equal(false);

    proxy.heal();
    await waitFor(() => before.closed() && during.closed(), { what: 'connections that lost bytes to be reset' });
    expect(before.error()?.code).to.equal('ECONNRESET');
    const after = await open();
    after.socket.write('back');
    await waitFor(() => after.data() === 'back', { what: 'an echo after heal' });
  });

  it('cuts: resets open connections and new ones until healed', async () => {
    const c = await open();
    c.socket.write('a');
    await waitFor(() => c.data() === 'a', { what: 'the echo' });
    proxy.cut();
    await waitFor(() => c.closed(), { what: 'the open connection to be reset' });
    expect(c.error()?.code).to.equal('ECONNRESET');
    await waitFor(() => echo.sockets.size === 0, { what: 'the server side to be closed too' });
    // The reset may land before or after the client's connect completes.
    const refused = await client(proxy.port).then(
      (r) => waitFor(() => (r.closed() ? r.error() : undefined), { what: 'a new connection to be reset' }),
      (e: NodeJS.ErrnoException) => e,
    );
    expect(refused.code).to.equal('ECONNRESET');
    expect(proxy.connections).to.equal(0);
    proxy.heal();
    const after = await open();
    after.socket.write('b');
    await waitFor(() => after.data() === 'b', { what: 'an echo after heal' });
  });

  it('resets the client when the target is down, and close() tears everything down', async () => {
    const c = await open();
    const deadPort = await freePort();
    const toDead = await startFaultProxy({ target: `127.0.0.1:${deadPort}` });
    try {
      const d = await client(toDead.port);
      await waitFor(() => d.closed(), { what: 'the client of a dead target to be closed' });
      expect(d.error()?.code).to.equal('ECONNRESET');
    } finally {
      await toDead.close();
    }
    proxy.suspend();
    c.socket.write('held');
    await proxy.close();
    await waitFor(() => c.closed(), { what: 'close() to destroy the connection' });
    expect(proxy.connections).to.equal(0);
    let err: NodeJS.ErrnoException | undefined;
    try {
      await client(proxy.port);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err?.code).to.equal('ECONNREFUSED');
  });
});
