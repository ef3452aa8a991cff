import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A userland TCP proxy that injects network faults between a client and a target (kernel
 * latency injection, tc netem, is not available on the test machines).
 *
 * Faults, strongest first (a stronger one wins while set; `heal()` clears them all):
 * - `cut()`: every open connection is reset and new ones are accepted then reset at once.
 * - `blackhole()`: connections are accepted and kept open, but nothing passes in either direction
 *   (bytes are dropped, as in a partition that outlives TCP retransmission).
 * - `suspend(direction)`: nothing passes in that direction, but bytes are buffered and delivered
 *   on `resume()` (a stall).
 * - `delay(ms, direction)`: each chunk is delivered `ms` later, in order (latency).
 */
export interface FaultProxyOptions {
  /** Where to forward: `'host:port'` or `{ host, port }`. */
  target: string | { host: string; port: number };
  /** Port to listen on (127.0.0.1). Default 0: the kernel picks one. */
  listenPort?: number;
  /** Buffered bytes per direction and connection above which reading pauses. Default 1 MiB. */
  highWaterMark?: number;
}

export const FAULT_PROXY_DEFAULTS = {
  listenPort: 0,
  highWaterMark: 1024 * 1024,
} as const;

/** `toTarget`: client → target (requests); `toClient`: target → client (responses). */
export type Direction = 'toTarget' | 'toClient' | 'both';

export interface FaultProxyState {
  cut: boolean;
  blackhole: boolean;
  suspended: { toTarget: boolean; toClient: boolean };
  delayMs: { toTarget: number; toClient: number };
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  /** `host:port` of the proxy. */
  readonly address: string;
  /** `http://host:port`; use `https://${address}` for TLS (the proxy forwards bytes, TLS passes through). */
  readonly url: string;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  /** Bytes delivered so far, per direction. */
  readonly bytes: { readonly toTarget: number; readonly toClient: number };
  /** A copy of the faults in force. */
  readonly state: FaultProxyState;
  /** Forward nothing in either direction, dropping bytes; connections stay open. */
  blackhole(): void;
  /** Hold bytes in `direction` (buffered, delivered on resume). */
  suspend(direction?: Direction): void;
  resume(direction?: Direction): void;
  /** Deliver every chunk in `direction` `ms` later (0 removes the delay). */
  delay(ms: number, direction?: Direction): void;
  /** Reset every connection and reset new ones until `heal()`. */
  cut(): void;
  /**
   * Back to plain forwarding: clears every fault and delivers what was suspended. Connections that
   * lost bytes in a black hole are reset, since their stream is corrupt; clients reconnect.
   */
  heal(): void;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

type Way = 'toTarget' | 'toClient';
const WAYS: readonly Way[] = ['toTarget', 'toClient'];

function ways(direction: Direction): readonly Way[] {
  if (direction === 'both') return WAYS;
  if (direction !== 'toTarget' && direction !== 'toClient') {
    throw new TypeError(`direction ${JSON.stringify(direction)} must be 'toTarget', 'toClient' or 'both'`);
  }
  return [direction];
}

function parseTarget(target: FaultProxyOptions['target']): { host: string; port: number } {
  if (typeof target !== 'string') return target;
  const i = target.lastIndexOf(':');
  const port = Number(target.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TypeError(`fault proxy target ${JSON.stringify(target)} must be 'host:port'`);
  }
  return { host: target.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

/** Sends a TCP RST rather than a FIN, so the peer sees ECONNRESET at once. */
function reset(socket: Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/** One direction of one connection: a queue of chunks (null = end of stream) with due times. */
class Pipe {
  private readonly queue: { chunk: Buffer | null; due: number }[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;

  constructor(
    private readonly proxy: ProxyCore,
    private readonly link: Link,
    readonly way: Way,
    private readonly source: () => Socket | undefined,
    private readonly dest: () => Socket | undefined,
  ) {}

  push(chunk: Buffer | null): void {
    if (this.proxy.faults.blackhole || !this.dest()) {
      this.link.dropped = true;
      return;
    }
    const due = Math.max(Date.now() + this.proxy.faults.delayMs[this.way], this.lastDue);
    this.lastDue = due;
    this.queue.push({ chunk, due });
    if (chunk) this.queuedBytes += chunk.length;
    this.pump();
  }

  /** Delivers what is due, unless held; pauses the source while too much is buffered. */
  pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const dest = this.dest();
    if (this.proxy.faults.blackhole && this.queue.length > 0) {
      this.queue.length = 0;
      this.queuedBytes = 0;
      this.link.dropped = true;
    }
    while (dest && !dest.destroyed && !this.waitingDrain && !this.proxy.faults.suspended[this.way] && this.queue.length > 0) {
      const head = this.queue[0];
      const wait = head.due - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        break;
      }
      this.queue.shift();
      if (head.chunk === null) {
        dest.end();
        continue;
      }
      this.queuedBytes -= head.chunk.length;
      this.proxy.delivered[this.way] += head.chunk.length;
      if (!dest.write(head.chunk)) {
        this.waitingDrain = true;
        dest.once('drain', () => {
          this.waitingDrain = false;
          this.pump();
        });
      }
    }
    const source = this.source();
    if (!source || source.destroyed) return;
    if (this.queuedBytes >= this.proxy.highWaterMark || this.waitingDrain) source.pause();
    else source.resume();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

/** One proxied connection. `target` is unset while it was accepted into a black hole. */
class Link {
  target: Socket | undefined;
  /** Bytes were dropped (black hole): the stream is corrupt, so heal() resets it. */
  dropped = false;
  readonly pipes: Record<Way, Pipe>;

  constructor(
    private readonly proxy: ProxyCore,
    readonly client: Socket,
  ) {
    this.pipes = {
      toTarget: new Pipe(proxy, this, 'toTarget', () => this.client, () => this.target),
      toClient: new Pipe(proxy, this, 'toClient', () => this.target, () => this.client),
    };
    client.on('data', (chunk: Buffer) => this.pipes.toTarget.push(chunk));
    client.on('end', () => this.pipes.toTarget.push(null));
    client.on('error', () => reset(this.target));
    client.on('close', () => this.closed());
    if (proxy.faults.blackhole) this.dropped = true;
    else this.connectTarget();
  }

  private connectTarget(): void {
    const target = connect({ ...this.proxy.target, allowHalfOpen: true });
    this.target = target;
    target.setNoDelay(true);
    target.on('data', (chunk: Buffer) => this.pipes.toClient.push(chunk));
    target.on('end', () => this.pipes.toClient.push(null));
    target.on('error', () => reset(this.client));
    target.on('close', () => this.closed());
  }

  pumpAll(): void {
    for (const way of WAYS) this.pipes[way].pump();
  }

  destroy(): void {
    for (const way of WAYS) this.pipes[way].stop();
    reset(this.client);
    reset(this.target);
  }

  private closed(): void {
    if (this.client.destroyed && (!this.target || this.target.destroyed)) {
      for (const way of WAYS) this.pipes[way].stop();
      this.proxy.links.delete(this);
    }
  }
}

interface ProxyCore {
  readonly target: { host: string; port: number };
  readonly highWaterMark: number;
  readonly faults: FaultProxyState;
  readonly delivered: Record<Way, number>;
  readonly links: Set<Link>;
}

/** Starts a fault proxy on 127.0.0.1 in front of `target`; it forwards normally until told otherwise. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const core: ProxyCore = {
    target: parseTarget(options.target),
    highWaterMark: options.highWaterMark ?? FAULT_PROXY_DEFAULTS.highWaterMark,
    faults: noFaults(),
    delivered: { toTarget: 0, toClient: 0 },
    links: new Set(),
  };
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    if (core.faults.cut) {
      client.on('error', () => undefined);
      reset(client);
      return;
    }
    core.links.add(new Link(core, client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? FAULT_PROXY_DEFAULTS.listenPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('fault proxy: the server has no TCP address');
  const host = '127.0.0.1';
  const port = addr.port;
  const pumpAll = () => {
    for (const link of core.links) link.pumpAll();
  };

  return {
    host,
    port,
    address: `${host}:${port}`,
    url: `http://${host}:${port}`,
    get connections() {
      return core.links.size;
    },
    get bytes() {
      return { ...core.delivered };
    },
    get state() {
      return structuredClone(core.faults);
    },
    blackhole() {
      core.faults.blackhole = true;
      pumpAll();
    },
    suspend(direction = 'both') {
      for (const way of ways(direction)) core.faults.suspended[way] = true;
    },
    resume(direction = 'both') {
      for (const way of ways(direction)) core.faults.suspended[way] = false;
      pumpAll();
    },
    delay(ms, direction = 'both') {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`fault proxy delay ${ms} must be a number of ms >= 0`);
      for (const way of ways(direction)) core.faults.delayMs[way] = ms;
    },
    cut() {
      core.faults.cut = true;
      for (const link of core.links) link.destroy();
      core.links.clear();
    },
    heal() {
      Object.assign(core.faults, noFaults());
      for (const link of core.links) {
        if (link.dropped) {
          link.destroy();
          core.links.delete(link);
        }
      }
      pumpAll();
    },
    async close() {
      core.faults.cut = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const link of core.links) link.destroy();
      core.links.clear();
      await closed;
    },
  };
}

function noFaults(): FaultProxyState {
  return { cut: false, blackhole: false, suspended: { toTarget: false, toClient: false }, delayMs: { toTarget: 0, toClient: 0 } };
}
