import { createServer } from 'node:net';

/** A TCP port free on `host` right now (the kernel picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on host:port. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * Hands out the stack's ports: `base + offset` for a fixed layout people can remember, or
 * kernel-chosen free ports when the base is 0 (what tests use, so stacks never collide).
 */
export class PortPlan {
  constructor(
    readonly base: number,
    readonly host = '127.0.0.1',
  ) {}

  async port(offset: number): Promise<number> {
    return this.base === 0 ? freePort(this.host) : this.base + offset;
  }
}
