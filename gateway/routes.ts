import { candidateGateways, regionAllowed } from '../topology/index.js';
import type { RoutedGateway, Service, ServiceDefinition, TopologyDocument } from '../openapi/index.js';
import type { TopologySnapshot } from '../store/index.js';
import { CorsRule } from './cors.js';

/** A backend (or, when dispatching, another gateway) a request may be forwarded to. */
export interface Upstream {
  readonly href: string;
  readonly protocol: 'http:' | 'https:';
  readonly hostname: string;
  readonly port: number;
  /** The Host header sent to it. */
  readonly host: string;
  /** Path of the upstream URL without its trailing '/', prepended to the request path. */
  readonly pathPrefix: string;
}

/** Who is asking: the gateway the table is built for. */
export interface RouteSelf {
  region: string;
  id: string;
}

/** Something in the snapshot the table cannot use; it is skipped. */
export interface RouteProblem {
  service: string;
  reason: string;
}

/** How this gateway handles one service, decided once per snapshot. */
export class RoutePlan {
  private alternatesCache: RoutedGateway[] | undefined;
  private gatewayUpstreams: Upstream[] | undefined;
  private cursor = 0;

  constructor(
    readonly service: Service,
    /** True when this gateway proxies the service itself. */
    readonly servedHere: boolean,
    /** Where it proxies to (empty when not served here). */
    readonly upstreams: readonly Upstream[],
    /** Region of those upstreams: this one, or the nearest for a global service deployed elsewhere. */
    readonly upstreamRegion: string | undefined,
    private readonly doc: TopologyDocument,
    private readonly self: RouteSelf,
    private readonly parse: (href: string) => Upstream | undefined,
    /** The service's CORS policy, answered by this gateway whether it serves the service or not. */
    readonly cors: CorsRule | undefined,
  ) {}

  get name(): string {
    return this.service.name;
  }

  /** Pinned services are never forwarded by a dispatching gateway. */
  get dispatchable(): boolean {
    return this.service.placement !== 'pinned';
  }

  /** Index of the upstream to try first: round robin over the service's upstreams. */
  nextStart(): number {
    const n = this.upstreams.length;
    if (n <= 1) return 0;
    this.cursor = (this.cursor + 1) % n;
    return this.cursor;
  }

  /** Gateways (status up, not this one) that serve the service, best first for this region. */
  alternates(): RoutedGateway[] {
    this.alternatesCache ??= candidateGateways(this.doc, this.service, { region: this.self.region }).filter(
      (g) => !(g.id === this.self.id && g.region === this.self.region),
    );
    return this.alternatesCache;
  }

  /**
   * Where a dispatching gateway forwards the service: the alternates, best first. Undefined when
   * it must answer 421 instead: dispatch off, a pinned service (never forwarded), a request
   * already dispatched once (no loops), or no live gateway serving it.
   */
  upstreamsForDispatch(dispatch: boolean, alreadyDispatched: boolean): Upstream[] | undefined {
    if (!dispatch || !this.dispatchable || alreadyDispatched) return undefined;
    this.gatewayUpstreams ??= this.alternates()
      .map((g) => this.parse(g.url))
      .filter((u): u is Upstream => u !== undefined);
    return this.gatewayUpstreams.length > 0 ? this.gatewayUpstreams : undefined;
  }
}

/**
 * Maps request paths to services for one snapshot. Base paths are keys of a map; a path is
 * matched by looking up its prefixes at segment boundaries, longest first, so matching costs a
 * few map lookups whatever the number of services.
 */
export class RouteTable {
  private constructor(
    private readonly byBasePath: ReadonlyMap<string, RoutePlan>,
    private readonly byName: ReadonlyMap<string, RoutePlan>,
    private readonly longestBasePath: number,
    /** Parsed upstream URLs, reused by the next table. */
    readonly upstreamCache: Map<string, Upstream | undefined>,
  ) {}

  static empty(): RouteTable {
    return new RouteTable(new Map(), new Map(), 0, new Map());
  }

  static build(
    snapshot: TopologySnapshot,
    doc: TopologyDocument,
    self: RouteSelf,
    previous?: RouteTable,
    onProblem: (problem: RouteProblem) => void = () => undefined,
  ): RouteTable {
    const oldCache = previous?.upstreamCache;
    const cache = new Map<string, Upstream | undefined>();
    const parse = (href: string): Upstream | undefined => {
      if (cache.has(href)) return cache.get(href);
      const u = oldCache?.has(href) ? oldCache.get(href) : parseUpstream(href);
      cache.set(href, u);
      return u;
    };
    const byBasePath = new Map<string, RoutePlan>();
    const byName = new Map<string, RoutePlan>();
    let longest = 0;
    for (const service of doc.services) {
      const def = snapshot.services.get(service.name);
      if (!def) continue;
      const servedHere = service.regions.includes(self.region) && regionAllowed(doc, service, self.region);
      const upstreams: Upstream[] = [];
      let upstreamRegion: string | undefined;
      if (servedHere) {
        const chosen = chooseDeployment(def, self.region);
        upstreamRegion = chosen?.region;
        for (const href of chosen?.upstreams ?? []) {
          const u = parse(href);
          if (u) upstreams.push(u);
          else onProblem({ service: def.name, reason: `upstream ${JSON.stringify(href)} is not an absolute http(s) URL` });
        }
      }
      const plan = new RoutePlan(service, servedHere, upstreams, upstreamRegion, doc, self, parse, def.cors ? new CorsRule(def.cors) : undefined);
      byName.set(service.name, plan);
      const key = trimSlash(service.basePath);
      const taken = byBasePath.get(key);
      if (taken) {
        onProblem({ service: def.name, reason: `base path ${service.basePath} is already used by service ${taken.name}; requests go to ${taken.name}` });
        continue;
      }
      byBasePath.set(key, plan);
      longest = Math.max(longest, key.length);
    }
    return new RouteTable(byBasePath, byName, longest, cache);
  }

  /** The service whose base path is the longest prefix of `path` at a segment boundary. */
  match(path: string): RoutePlan | undefined {
    let p = path;
    if (p.length > this.longestBasePath) {
      // No base path is longer: start from the last boundary within reach.
      const cut = p.lastIndexOf('/', this.longestBasePath);
      p = cut <= 0 ? '/' : p.slice(0, cut);
    }
    for (;;) {
      const plan = this.byBasePath.get(p);
      if (plan) return plan;
      const i = p.lastIndexOf('/');
      if (i <= 0) break;
      p = p.slice(0, i);
    }
    return this.byBasePath.get('/');
  }

  service(name: string): RoutePlan | undefined {
    return this.byName.get(name);
  }
}

/**
 * The deployment a gateway in `region` proxies to: its own region's, or for a global service not
 * deployed there, the first deployed region in the service's failover order, then by name.
 */
export function chooseDeployment(def: ServiceDefinition, region: string): { region: string; upstreams: string[] } | undefined {
  const deployments = def.deployments ?? [];
  const own = deployments.find((d) => d.region === region && d.upstreams.length > 0);
  if (own) return own;
  if (def.placement !== 'global') return undefined;
  const deployed = deployments.filter((d) => d.upstreams.length > 0);
  for (const name of def.failover ?? []) {
    const d = deployed.find((x) => x.region === name);
    if (d) return d;
  }
  return [...deployed].sort((a, b) => (a.region < b.region ? -1 : a.region > b.region ? 1 : 0))[0];
}

export function parseUpstream(href: string): Upstream | undefined {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) return undefined;
  return {
    href,
    protocol: url.protocol,
    // URL keeps the brackets of an IPv6 literal; sockets want the bare address.
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
    host: url.host,
    pathPrefix: trimSlash(url.pathname) === '/' ? '' : trimSlash(url.pathname),
  };
}

function trimSlash(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 47) end--;
  return path.slice(0, end);
}
