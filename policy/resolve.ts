import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { parseIp } from './ip-address.js';
import type { RefusedEndpoint } from './upstream-rules.js';

/** Resolves a host name to its addresses, as connecting would (getaddrinfo: /etc/hosts, then DNS). */
export type LookupAll = (host: string) => Promise<string[]>;

export const systemLookup: LookupAll = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** How names are resolved for the upstream rules. Every default is in HOST_RESOLVER_DEFAULTS. */
export interface HostResolverOptions {
  /** How long an answer (or a failure) is reused, ms. Default 10000: an apply of 10 000 services repeats few names. */
  cacheTtlMs?: number;
  /** A lookup that takes longer counts as failed, ms. Default 2000. */
  lookupTimeoutMs?: number;
  /** Answers kept at most (the oldest go first). Default 100000. */
  maxCached?: number;
  /** The resolver itself (tests substitute one). Default: the system's, like a socket connect. */
  lookup?: LookupAll;
}

export const HOST_RESOLVER_DEFAULTS = { cacheTtlMs: 10_000, lookupTimeoutMs: 2000, maxCached: 100_000 } as const;

/** A name's addresses, or why it has none. */
export type Resolution = { addresses: readonly string[] } | { error: string };

/** Name resolution with a timeout and a short cache, for checking hosts against the upstream rules. */
export class HostResolver {
  private readonly options: Required<HostResolverOptions>;
  private readonly cache = new Map<string, { at: number; result: Promise<Resolution> }>();

  constructor(options: HostResolverOptions = {}) {
    this.options = { ...HOST_RESOLVER_DEFAULTS, lookup: systemLookup, ...options };
  }

  resolve(host: string): Promise<Resolution> {
    const now = Date.now();
    const hit = this.cache.get(host);
    if (hit && now - hit.at < this.options.cacheTtlMs) return hit.result;
    const result = this.lookupOnce(host);
    this.cache.delete(host);
    this.cache.set(host, { at: now, result });
    if (this.cache.size > this.options.maxCached) this.cache.delete(this.cache.keys().next().value as string);
    return result;
  }

  /**
   * Resolves many names, `concurrency` at a time, for at most `budgetMs` in all: names not
   * resolved by then are left out of the answer (the caller decides what that means).
   */
  async resolveAll(hosts: Iterable<string>, { concurrency = 16, budgetMs = 3000 }: { concurrency?: number; budgetMs?: number } = {}): Promise<Map<string, Resolution>> {
    const queue = [...new Set(hosts)];
    const out = new Map<string, Resolution>();
    const deadline = Date.now() + budgetMs;
    const worker = async () => {
      for (let host = queue.shift(); host !== undefined && Date.now() < deadline; host = queue.shift()) {
        const left = deadline - Date.now();
        let timer: NodeJS.Timeout | undefined;
        const res = await Promise.race([this.resolve(host), new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), left)))]);
        clearTimeout(timer);
        if (res) out.set(host, res);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    return out;
  }

  private async lookupOnce(host: string): Promise<Resolution> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const addresses = await Promise.race([
        this.options.lookup(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })), this.options.lookupTimeoutMs);
          timer.unref();
        }),
      ]);
      return { addresses };
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Addresses of this host's network interfaces (loopback included). */
export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i): i is NonNullable<typeof i> => i !== undefined)
    .map((i) => i.address);
}

/** The endpoints with the addresses their names resolve to (within `budgetMs`; names not resolved keep none). */
export async function resolveEndpoints(endpoints: readonly RefusedEndpoint[], resolver: HostResolver, budgetMs = 3000): Promise<RefusedEndpoint[]> {
  const names = endpoints.filter((e) => !parseIp(e.host)).map((e) => e.host);
  const resolved = await resolver.resolveAll(names, { budgetMs });
  return endpoints.map((e) => {
    const r = resolved.get(e.host);
    return r && 'addresses' in r ? { ...e, addresses: r.addresses } : e;
  });
}
