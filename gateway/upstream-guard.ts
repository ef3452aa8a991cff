import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction, Socket } from 'node:net';
import { WaymarkError } from '../topology/index.js';
import type { GatewayRegistration } from '../openapi/index.js';
import {
  checkAddress,
  checkUpstreamUrl,
  endpointOf,
  HostResolver,
  interfaceAddresses,
  parseIp,
  RefusedEndpoints,
  resolveEndpoints,
  type RefusedEndpoint,
  type RegistryAddress,
  type UpstreamAllowlist,
  type UpstreamHost,
  type UpstreamRefusal,
  type UpstreamRule,
  type UpstreamRuleSet,
  type UpstreamUse,
} from '../policy/index.js';
import { GatewayHttpError } from './errors.js';
import type { Upstream } from './routes.js';

/** An upstream exchange refused by the upstream rules; the proxy answers 502 `UPSTREAM_REFUSED`. */
export class UpstreamRefusedError extends WaymarkError {
  constructor(readonly refusal: UpstreamRefusal) {
    super('UPSTREAM_REFUSED', `the upstream is refused by rule ${refusal.rule}`);
  }

  get rule(): UpstreamRule {
    return this.refusal.rule;
  }
}

/** The answer to the caller: which service, never which address or rule (both are internal). */
export const upstreamRefused = (service: string) =>
  new GatewayHttpError(
    502,
    'UPSTREAM_REFUSED',
    `service ${service}: this gateway refused to connect to its upstream (upstream policy); the service's operators must fix its deployments`,
  );

/** What the proxy asks before and while connecting to an upstream. */
export interface ProxyGuard {
  /** Bumped whenever the rules change: verdicts on pooled sockets must then be asked again. */
  readonly generation: number;
  /** Refusal decidable without DNS (URL shape, address literals, names), cached per upstream. */
  check(up: Upstream, use: UpstreamUse): UpstreamRefusedError | undefined;
  /** The `lookup` of the upstream request: resolves like node, then refuses when any address breaks the rules. */
  lookup(up: Upstream, use: UpstreamUse): LookupFunction;
  /** The connected (or reused) socket's remote address, checked last: nothing else decides where bytes go. */
  checkSocket(socket: Socket, up: Upstream, use: UpstreamUse): UpstreamRefusedError | undefined;
}

/** Tuning of the guard. Every default is in UPSTREAM_GUARD_DEFAULTS. */
export interface UpstreamGuardOptions {
  /** The etcd endpoints this gateway uses: refused as upstreams. */
  etcdEndpoints: readonly string[];
  /** How often names of refused endpoints (etcd, gateways, registries) are resolved again, ms. Default 30000. */
  refreshIntervalMs?: number;
  /** Time given to resolving those names, ms. Default 3000. */
  resolveBudgetMs?: number;
  /** A refusal is logged at most once per upstream and rule in this long, ms. Default 60000. */
  warnIntervalMs?: number;
  /** Told of refusals (rate-limited), for the gateway's log. */
  onWarning?: (err: Error) => void;
}

export const UPSTREAM_GUARD_DEFAULTS = { refreshIntervalMs: 30_000, resolveBudgetMs: 3000, warnIntervalMs: 60_000 } as const;

/**
 * The gateway's enforcement of the upstream rules at connect time, on the resolved address: the
 * registry checked upstreams at apply, but records can be written straight to etcd and DNS can
 * change after an apply. Refused whatever the policy: etcd's endpoints, registries' admin APIs,
 * this gateway's own listen address and public URL, every gateway registered in its environment
 * (except when dispatching, whose point is to reach them), link-local, unspecified and other
 * non-unicast addresses. Then the environment's allowlist, when an admin set one; until the policy
 * is first read, only the always-refused rules apply (the allowlist was enforced at apply).
 */
export class UpstreamGuard implements ProxyGuard {
  private readonly options: Required<Omit<UpstreamGuardOptions, 'onWarning'>> & Pick<UpstreamGuardOptions, 'onWarning'>;
  private readonly resolver = new HostResolver();
  private readonly localAddresses = interfaceAddresses();
  private etcd: RefusedEndpoint[];
  private self: RefusedEndpoint[] = [];
  private gateways: RefusedEndpoint[] = [];
  private gatewayKey = '';
  private registries: RefusedEndpoint[] = [];
  /** Resolved addresses of the names above, by name. */
  private resolved = new Map<string, readonly string[]>();
  private rules: UpstreamRuleSet;
  /** Bumped whenever the rules change: cached verdicts of an older generation are recomputed. */
  private rulesGeneration = 0;
  private readonly verdicts = new WeakMap<Upstream, { generation: number; service?: UpstreamRefusedError; dispatch?: UpstreamRefusedError }>();
  private readonly lookups = new WeakMap<Upstream, Partial<Record<UpstreamUse, LookupFunction>>>();
  /** Verdicts on pooled sockets, so a reused connection costs a map lookup, not an address check. */
  private readonly sockets = new WeakMap<Socket, { generation: number; use: UpstreamUse; refused?: UpstreamRefusedError }>();
  private readonly warned = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private resolving = false;

  constructor(options: UpstreamGuardOptions) {
    this.options = { ...UPSTREAM_GUARD_DEFAULTS, ...options };
    this.etcd = options.etcdEndpoints.map((e) => endpointOf('etcd', e)).filter((e): e is RefusedEndpoint => e !== undefined);
    this.rules = { refused: new RefusedEndpoints(this.etcd, this.localAddresses) };
    this.timer = setInterval(() => this.resolveNames(), this.options.refreshIntervalMs).unref();
    this.resolveNames();
  }

  /** This gateway's own addresses: where it listens and its public URL. */
  setSelf(listen: { address: string; port: number }, publicUrl: string): void {
    this.self = [endpointOf('gateway', `${listen.address.includes(':') ? `[${listen.address}]` : listen.address}:${listen.port}`), endpointOf('gateway', publicUrl)].filter(
      (e): e is RefusedEndpoint => e !== undefined,
    );
    this.rebuild(true);
  }

  /** The gateways registered in this gateway's environment (from each snapshot). */
  setGateways(registrations: Iterable<GatewayRegistration>): void {
    const urls = [...registrations].map((g) => g.url).sort();
    const key = urls.join('\n');
    if (key === this.gatewayKey) return;
    this.gatewayKey = key;
    this.gateways = urls.map((u) => endpointOf('gateway', u)).filter((e): e is RefusedEndpoint => e !== undefined);
    this.rebuild(true);
  }

  /** Registries' admin addresses, as they announce them. */
  setRegistries(records: readonly RegistryAddress[]): void {
    this.registries = records
      .flatMap((r) => [r.url, ...r.addresses])
      .map((a) => endpointOf('registry', a))
      .filter((e): e is RefusedEndpoint => e !== undefined);
    this.rebuild(true);
  }

  /** The environment's allowlist; undefined for the default (any host not always refused). */
  setPolicy(allowlist: UpstreamAllowlist | undefined): void {
    this.rules = { refused: this.rules.refused, ...(allowlist ? { allowlist } : {}) };
    this.rulesGeneration++;
  }

  get generation(): number {
    return this.rulesGeneration;
  }

  check(up: Upstream, use: UpstreamUse): UpstreamRefusedError | undefined {
    let v = this.verdicts.get(up);
    if (!v || v.generation !== this.rulesGeneration) {
      v = { generation: this.rulesGeneration };
      this.verdicts.set(up, v);
    }
    if (!(use in v)) {
      const { refusal } = checkUpstreamUrl(up.href, this.rules, use);
      v[use] = refusal ? this.refused(up, refusal) : undefined;
    }
    return v[use];
  }

  lookup(up: Upstream, use: UpstreamUse): LookupFunction {
    let fns = this.lookups.get(up);
    if (!fns) {
      fns = {};
      this.lookups.set(up, fns);
    }
    const existing = fns[use];
    if (existing) return existing;
    const host = hostOf(up);
    const fn: LookupFunction = (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return callback(err, '', 0);
        for (const a of addresses) {
          const ip = parseIp(a.address);
          const refusal = ip ? checkAddress(host, ip, this.rules, use) : undefined;
          if (refusal) return callback(this.refused(up, refusal), '', 0);
        }
        if (options.all) return callback(null, addresses);
        const first = addresses[0];
        if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        callback(null, first.address, first.family);
      });
    };
    fns[use] = fn;
    return fn;
  }

  checkSocket(socket: Socket, up: Upstream, use: UpstreamUse): UpstreamRefusedError | undefined {
    const cached = this.sockets.get(socket);
    if (cached && cached.generation === this.rulesGeneration && cached.use === use) return cached.refused;
    const ip = socket.remoteAddress ? parseIp(socket.remoteAddress) : undefined;
    // A socket without a remote address is not connected: it carries nothing anywhere.
    if (!ip) return undefined;
    const refusal = checkAddress(hostOf(up), ip, this.rules, use);
    const refused = refusal ? this.refused(up, refusal) : undefined;
    this.sockets.set(socket, { generation: this.rulesGeneration, use, ...(refused ? { refused } : {}) });
    return refused;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private refused(up: Upstream, refusal: UpstreamRefusal): UpstreamRefusedError {
    const key = `${up.href} ${refusal.rule}`;
    const now = Date.now();
    if (this.options.onWarning && now - (this.warned.get(key) ?? -Infinity) >= this.options.warnIntervalMs) {
      if (this.warned.size > 10_000) this.warned.clear();
      this.warned.set(key, now);
      this.options.onWarning(new Error(`upstream ${up.href} refused by rule ${refusal.rule}: ${refusal.detail}`));
    }
    return new UpstreamRefusedError(refusal);
  }

  /** New refused endpoints: applied at once with the addresses known, then again once new names resolve. */
  private rebuild(resolveNew: boolean): void {
    const all = [...this.etcd, ...this.self, ...this.gateways, ...this.registries].map((e) => {
      const addresses = this.resolved.get(e.host);
      return addresses ? { ...e, addresses } : e;
    });
    this.rules = { ...this.rules, refused: new RefusedEndpoints(all, this.localAddresses) };
    this.rulesGeneration++;
    if (resolveNew && all.some((e) => !parseIp(e.host) && !this.resolved.has(e.host))) this.resolveNames();
  }

  private resolveNames(): void {
    if (this.resolving) return;
    const endpoints = [...this.etcd, ...this.self, ...this.gateways, ...this.registries];
    if (!endpoints.some((e) => !parseIp(e.host))) return;
    this.resolving = true;
    void resolveEndpoints(endpoints, this.resolver, this.options.resolveBudgetMs)
      .then((done) => {
        const next = new Map<string, readonly string[]>();
        for (const e of done) if (e.addresses) next.set(e.host, e.addresses);
        this.resolved = next;
        this.rebuild(false);
      })
      .finally(() => {
        this.resolving = false;
      });
  }
}

function hostOf(up: Upstream): UpstreamHost {
  const ip = parseIp(up.hostname);
  return ip ? { ip, port: up.port } : { name: up.hostname.toLowerCase().replace(/\.$/, ''), port: up.port };
}
