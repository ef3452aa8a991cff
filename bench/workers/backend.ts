/**
 * Child process: a small HTTP backend for the proxy benchmarks. Every request gets the same
 * small JSON body, so what is measured is the path to it. Prints `{"port":N}` once listening and
 * exits when its stdin closes (the runner ended or died).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = Buffer.from(JSON.stringify({ id: 42, name: 'widget', price: 9.99, currency: 'EUR', inStock: true }));

const server = createServer((req, res) => {
  // Drain any request body before answering, so keep-alive connections stay usable.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': BODY.length });
    res.end(BODY);
  });
});
// Longer than any pause between rounds: proxies keep their upstream connections.
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
