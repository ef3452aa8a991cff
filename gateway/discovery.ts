import { buildDocument, type DocumentOptions } from './document.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { candidateGateways } from '../topology/index.js';
import type { Link, Service, ServiceRoute, TopologyDocument } from '../openapi/index.js';
import { isValidName } from '../topology/index.js';
import { type TopologySnapshot } from '../store/index.js';
import { DESCRIPTION_JSON_PATH, DESCRIPTION_JSON_TYPE, DESCRIPTION_YAML_PATH, DESCRIPTION_YAML_TYPE, descriptionBytes } from './description.js';
import { DocumentCache } from './document-cache.js';
import { badRequest, GatewayHttpError, methodNotAllowed, noSnapshot, notFound } from './errors.js';
import { LongPolls, type LongPollRefusal } from './longpoll.js';
import { sendError } from './reply.js';
import { Representation } from './representation.js';
import { RouteTable, type RouteProblem } from './routes.js';

export const TOPOLOGY_PATH = '/.well-known/topology';
export const SERVICES_PATH = '/.well-known/topology/services';
export const CATALOG_PATH = '/.well-known/api-catalog';

const JSON_TYPE = 'application/json; charset=utf-8';
/**
 * The discovery resources are public and carry no credentials: any origin may read them
 * (Fetch standard CORS), and browsers may see the headers a smart client needs.
 */
const CORS_HEADERS: readonly string[] = [
  'Access-Control-Allow-Origin',
  '*',
  'Access-Control-Expose-Headers',
  'ETag, Link, Retry-After, X-Waymark-Revision, X-Waymark-Region, X-Waymark-Gateway, X-Waymark-Stale-Since',
];
/** Answer to a CORS preflight on a discovery resource; browsers may cache it for a day. */
const PREFLIGHT_HEADERS: readonly string[] = [
  ...CORS_HEADERS,
  'Access-Control-Allow-Methods',
  'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers',
  'If-None-Match, Cache-Control, X-Request-Id, traceparent',
  'Access-Control-Max-Age',
  '86400',
  'Allow',
  'GET, HEAD, OPTIONS',
];
const LINKSET_TYPE = 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"';
/**
 * The description belongs to the gateway's build, not to a topology revision: its entity tags
 * use this revision, so a client's copy stays valid across topology changes.
 */
const DESCRIPTION_REVISION = 0;
/** Service routes cached per publication, at most (one per service and caller region). */
const SERVICE_ROUTES_MAX = 4096;

/**
 * One context of the API catalog (RFC 9264 §4.2): its anchor and its links by relation. Declared
 * here because the generated Linkset type cannot express `anchor` beside link arrays.
 */
type CatalogEntry = { anchor: string } & { [rel: string]: string | Link[] };
interface CatalogLinkset {
  linkset: CatalogEntry[];
}

/** What discovery needs from the gateway's options. */
export interface DiscoverySettings {
  environment: string;
  region: string;
  id: string;
  maxStaleSeconds: number;
  refreshIntervalSeconds: number;
  refreshJitterSeconds: number;
  cacheMaxAgeSeconds: number;
  staleWhileRevalidateSeconds: number;
  staleIfErrorSeconds: number;
  longPollDefaultSeconds: number;
  longPollMaxSeconds: number;
  maxLongPolls: number;
  maxLongPollsPerClient: number;
  /** Header a trusted proxy sets to the client's address (lowercase); undefined: the peer address. */
  clientAddressHeader?: string | undefined;
}

/** Longest client address kept as a key (a forged header cannot make keys of any size). */
const CLIENT_KEY_MAX = 100;

/**
 * Everything served for one snapshot in one freshness state, built once: the document, its
 * bytes in every coding, the headers, the route table. Requests only read it; a change builds
 * a new one and swaps it in.
 */
export class Publication {
  readonly revision: number;
  readonly doc: TopologyDocument;
  readonly topology: Representation;
  /** Raw header pairs on every response while this publication is current (X-Waymark-*). */
  readonly common: readonly string[];
  readonly routes: RouteTable;
  /** Cache-Control of ordinary answers: shared caches may keep a fresh document briefly, a stale one only when the gateway fails. */
  private readonly cacheControl: string;
  private servicesRep: Representation | undefined;
  private catalogRep: Representation | undefined;
  private descriptionReps: { json: Representation; yaml: Representation } | undefined;
  private readonly serviceRoutes = new Map<string, Representation>();
  /** Service entries and their JSON, handed on to the next publication. */
  private readonly cache: DocumentCache;

  constructor(
    readonly snapshot: TopologySnapshot,
    readonly baseUrl: string,
    private readonly settings: DiscoverySettings,
    readonly staleSince: Date | undefined,
    previous?: Publication,
    onProblem?: (problem: RouteProblem) => void,
    bundle?: DocumentOptions['bundle'],
  ) {
    this.revision = snapshot.revision;
    this.cache = previous?.cache ?? new DocumentCache();
    this.doc = buildDocument(snapshot, {
      entries: this.cache,
      maxStaleSeconds: settings.maxStaleSeconds,
      refreshIntervalSeconds: settings.refreshIntervalSeconds,
      refreshJitterSeconds: settings.refreshJitterSeconds,
      stale: staleSince !== undefined,
      ...(staleSince ? { staleSince } : {}),
      ...(bundle ? { bundle } : {}),
    });
    this.common = ['X-Waymark-Revision', String(this.revision), 'X-Waymark-Region', settings.region, 'X-Waymark-Gateway', settings.id];
    this.cacheControl = staleSince
      ? `public, no-cache, stale-if-error=${settings.staleIfErrorSeconds}`
      : `public, max-age=${settings.cacheMaxAgeSeconds}, stale-while-revalidate=${settings.staleWhileRevalidateSeconds}, stale-if-error=${settings.staleIfErrorSeconds}`;
    this.topology = new Representation(Buffer.from(this.cache.stringify(this.doc)), {
      contentType: JSON_TYPE,
      revision: this.revision,
      cacheControl: this.cacheControl,
      headers: this.headers(`${baseUrl}${TOPOLOGY_PATH}`, 'application/json'),
    });
    this.routes =
      previous && previous.snapshot === snapshot
        ? previous.routes
        : RouteTable.build(snapshot, this.doc, { region: settings.region, id: settings.id }, previous?.routes, onProblem);
  }

  get stale(): boolean {
    return this.staleSince !== undefined;
  }

  /** The services collection (`_links.services` of the document). */
  services(): Representation {
    this.servicesRep ??= this.json(`${this.baseUrl}${SERVICES_PATH}`, {
      environment: this.doc.environment,
      revision: this.revision,
      services: this.doc.services,
      _links: {
        self: { href: SERVICES_PATH },
        topology: { href: TOPOLOGY_PATH },
        service: { href: `${SERVICES_PATH}/{name}`, templated: true },
      },
    });
    return this.servicesRep;
  }

  /** One service with its gateways ordered for a caller in `from`; undefined if unknown. */
  serviceRoute(name: string, from: string): Representation | undefined {
    const key = `${name} ${from}`;
    const cached = this.serviceRoutes.get(key);
    if (cached) return cached;
    const service = this.routes.service(name)?.service;
    if (!service) return undefined;
    const self = `${SERVICES_PATH}/${name}${from === this.settings.region ? '' : `?from=${from}`}`;
    const gateways = candidateGateways(this.doc, service, { region: from });
    const body: ServiceRoute = {
      environment: this.doc.environment,
      revision: this.revision,
      from,
      service,
      gateways,
      _links: {
        self: { href: self },
        topology: { href: TOPOLOGY_PATH },
        entrypoints: gateways.map((g) => ({ href: `${g.url.replace(/\/+$/, '')}${service.basePath}`, name: g.id, region: g.region, title: `${g.id} (${g.region})` })),
      },
    };
    const rep = this.json(`${this.baseUrl}${self}`, body);
    if (this.serviceRoutes.size >= SERVICE_ROUTES_MAX) this.serviceRoutes.clear();
    this.serviceRoutes.set(key, rep);
    return rep;
  }

  /**
   * RFC 9727 API catalog: the discovery API (the topology document, with its description) and
   * every service that declares `openapi` or `docs`, each anchored at its entry point.
   */
  catalog(): Representation {
    if (!this.catalogRep) {
      const services = this.doc.services.filter((s) => s._links?.['service-desc'] || s._links?.['service-doc']).map((s) => this.catalogEntry(s));
      const body: CatalogLinkset = {
        linkset: [
          {
            anchor: `${this.baseUrl}${CATALOG_PATH}`,
            item: [
              { href: `${this.baseUrl}${TOPOLOGY_PATH}`, type: 'application/json', title: `Waymark topology of ${this.doc.environment}` },
              ...services.map((e) => ({ href: e.anchor, title: `service ${e.name}` })),
            ],
          },
          {
            anchor: `${this.baseUrl}${TOPOLOGY_PATH}`,
            'service-desc': [
              { href: `${this.baseUrl}${DESCRIPTION_JSON_PATH}`, type: DESCRIPTION_JSON_TYPE, title: 'OpenAPI description of the Waymark discovery API' },
              { href: `${this.baseUrl}${DESCRIPTION_YAML_PATH}`, type: DESCRIPTION_YAML_TYPE, title: 'OpenAPI description of the Waymark discovery API (YAML)' },
            ],
            'service-meta': [{ href: `${this.baseUrl}${SERVICES_PATH}`, type: 'application/json', title: 'services of the topology' }],
          },
          ...services.map(({ name: _name, ...entry }) => entry),
        ],
      };
      this.catalogRep = new Representation(Buffer.from(JSON.stringify(body)), {
        contentType: LINKSET_TYPE,
        revision: this.revision,
        cacheControl: this.cacheControl,
        headers: this.headers(`${this.baseUrl}${CATALOG_PATH}`, LINKSET_TYPE),
      });
    }
    return this.catalogRep;
  }

  /**
   * A service's catalog entry, anchored at its entry point for a caller in this gateway's region
   * (this gateway's URL when no gateway serves it now). Paths are resolved against the anchor's
   * gateway, which serves the service; absolute URLs are kept as declared.
   */
  private catalogEntry(service: Service): CatalogEntry & { name: string } {
    const best = candidateGateways(this.doc, service, { region: this.settings.region })[0];
    const origin = best?.url.replace(/\/+$/, '') ?? this.baseUrl;
    const resolve = (href: string) => (href.startsWith('/') ? `${origin}${href}` : href);
    const entry: CatalogEntry & { name: string } = { name: service.name, anchor: `${origin}${service.basePath}` };
    const desc = service._links?.['service-desc'];
    const doc = service._links?.['service-doc'];
    if (desc) entry['service-desc'] = [{ href: resolve(desc.href), title: `API description of ${service.name}` }];
    if (doc) entry['service-doc'] = [{ href: resolve(doc.href), title: `documentation of ${service.name}` }];
    return entry;
  }

  /** The discovery API's OpenAPI description (`service-desc` of every discovery resource). */
  description(format: 'json' | 'yaml'): Representation {
    if (!this.descriptionReps) {
      const bytes = descriptionBytes();
      const rep = (body: Buffer, path: string, type: string) =>
        new Representation(body, {
          contentType: `${type}; charset=utf-8`,
          revision: DESCRIPTION_REVISION,
          cacheControl: this.cacheControl,
          headers: this.headers(`${this.baseUrl}${path}`, type),
        });
      this.descriptionReps = {
        json: rep(bytes.json, DESCRIPTION_JSON_PATH, DESCRIPTION_JSON_TYPE),
        yaml: rep(bytes.yaml, DESCRIPTION_YAML_PATH, DESCRIPTION_YAML_TYPE),
      };
    }
    return this.descriptionReps[format];
  }

  /** Regions of the document, for a caller's `from`. */
  hasRegion(name: string): boolean {
    return this.snapshot.regions.has(name);
  }

  private json(self: string, body: unknown): Representation {
    return new Representation(Buffer.from(JSON.stringify(body)), {
      contentType: JSON_TYPE,
      revision: this.revision,
      cacheControl: this.cacheControl,
      headers: this.headers(self, JSON_TYPE),
    });
  }

  /**
   * Headers of one resource: its own `self` (RFC 8288 §3.2: the link context is the resource),
   * the API catalog, the discovery API's description (RFC 8631 `service-desc`, and `describedby`
   * for generic clients), the gateway's X-Waymark-* facts, CORS, and since when it is stale.
   */
  private headers(self: string, type: string): string[] {
    const mediaType = type.split(';')[0]!;
    const description = `${this.baseUrl}${DESCRIPTION_JSON_PATH}`;
    return [
      'Link',
      `<${self}>; rel="self"; type="${mediaType}", <${this.baseUrl}${CATALOG_PATH}>; rel="api-catalog", ` +
        `<${description}>; rel="service-desc"; type="${DESCRIPTION_JSON_TYPE}", <${description}>; rel="describedby"; type="${DESCRIPTION_JSON_TYPE}"`,
      ...this.common,
      ...CORS_HEADERS,
      // Only discovery answers are stale; proxied ones come fresh from their upstream.
      ...(this.staleSince ? ['X-Waymark-Stale-Since', this.staleSince.toUTCString()] : []),
    ];
  }
}

/**
 * The well-known endpoints: the topology document (with long-poll), its services, the API
 * catalog, and a JSON 404 for anything else under /.well-known/.
 */
export class Discovery {
  private current: Publication | undefined;
  private readonly polls: LongPolls;

  constructor(
    private readonly settings: DiscoverySettings,
    /** Headers for answers given before any snapshot exists. */
    private readonly fallbackHeaders: () => readonly string[],
    private readonly errorLinks: () => Record<string, { href: string }>,
    /** A long-poll was refused (for the metrics). */
    private readonly onRefused: (reason: LongPollRefusal) => void = () => undefined,
  ) {
    this.polls = new LongPolls(settings.maxLongPolls, settings.maxLongPollsPerClient);
    // Read now, so a build without the generated description fails at startup, not on a request.
    descriptionBytes();
  }

  get publication(): Publication | undefined {
    return this.current;
  }

  get heldLongPolls(): number {
    return this.polls.size;
  }

  /** Swaps in a new publication; long-polls waiting for an older revision are answered with it. */
  publish(pub: Publication): void {
    const moved = !this.current || pub.revision > this.current.revision;
    this.current = pub;
    if (moved) this.polls.publish(pub.revision);
  }

  /** Answers every held long-poll (304) so connections can drain. */
  close(): void {
    this.polls.closeAll();
  }

  /** `GET /.well-known/topology` — the hot path: no allocation beyond what node needs. */
  topology(req: IncomingMessage, res: ServerResponse, query: string): void {
    const pub = this.current;
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.notGet(req, res);
    if (!pub) return this.fail(res, noSnapshot());
    if (query.length > 1) {
      const params = new URLSearchParams(query.slice(1));
      if (params.has('wait')) return this.longPoll(req, res, pub, params);
    }
    pub.topology.send(req, res);
  }

  /** Everything else under /.well-known/. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: string): void {
    if (path === TOPOLOGY_PATH || path === `${TOPOLOGY_PATH}/`) return this.topology(req, res, query);
    const pub = this.current;
    const description = path === DESCRIPTION_JSON_PATH ? 'json' : path === DESCRIPTION_YAML_PATH ? 'yaml' : undefined;
    const known = description !== undefined || path === CATALOG_PATH || path === SERVICES_PATH || path.startsWith(`${SERVICES_PATH}/`);
    if (!known) {
      return this.fail(res, notFound(`nothing at ${path}: the topology document is at ${TOPOLOGY_PATH}`));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.notGet(req, res);
    if (!pub) return this.fail(res, noSnapshot());
    if (description) return pub.description(description).send(req, res);
    if (path === CATALOG_PATH) return pub.catalog().send(req, res);
    if (path === SERVICES_PATH) return pub.services().send(req, res);
    const name = safeDecode(path.slice(SERVICES_PATH.length + 1));
    const from = query.length > 1 ? new URLSearchParams(query.slice(1)).get('from') ?? this.settings.region : this.settings.region;
    if (!isValidName(from) || !pub.hasRegion(from)) {
      const known = [...pub.snapshot.regions.keys()].sort().join(', ');
      return this.fail(res, badRequest(`from=${JSON.stringify(from)} is not a region of environment ${this.settings.environment}: use one of ${known || '(none yet)'}`));
    }
    const rep = name !== undefined && isValidName(name) ? pub.serviceRoute(name, from) : undefined;
    if (!rep) {
      return this.fail(res, notFound(`no service ${JSON.stringify(name ?? path)} in environment ${this.settings.environment}: see ${TOPOLOGY_PATH}`));
    }
    rep.send(req, res);
  }

  private longPoll(req: IncomingMessage, res: ServerResponse, pub: Publication, params: URLSearchParams): void {
    const wait = Number(params.get('wait'));
    if (!Number.isSafeInteger(wait) || wait < 0 || params.get('wait') === '') {
      return this.fail(res, badRequest(`wait=${JSON.stringify(params.get('wait'))} must be a revision (an integer ≥ 0)`));
    }
    let seconds = this.settings.longPollDefaultSeconds;
    if (params.has('timeout')) {
      seconds = Number(params.get('timeout'));
      if (!Number.isFinite(seconds) || seconds < 0 || params.get('timeout') === '') {
        return this.fail(res, badRequest(`timeout=${JSON.stringify(params.get('timeout'))} must be a number of seconds ≥ 0`));
      }
    }
    seconds = Math.min(seconds, this.settings.longPollMaxSeconds);
    if (pub.revision > wait) return pub.topology.sendChanged(req, res);
    if (seconds === 0) return pub.topology.sendUnchanged(req, res);
    const cancel = this.polls.hold(wait, seconds * 1000, this.clientOf(req), (reason) => {
      res.off('close', onClose);
      const now = this.current ?? pub;
      if (reason === 'changed') now.topology.sendChanged(req, res);
      else now.topology.sendUnchanged(req, res);
    });
    if (typeof cancel !== 'function') {
      this.onRefused(cancel);
      const retry = ['Retry-After', String(this.retryAfterSeconds())];
      return this.fail(
        res,
        cancel === 'full'
          ? new GatewayHttpError(503, 'TOO_MANY_LONG_POLLS', `this gateway already holds ${this.settings.maxLongPolls} long-polls: retry later or poll without wait`, retry)
          : new GatewayHttpError(
              429,
              'TOO_MANY_LONG_POLLS_FROM_CLIENT',
              `this client address already holds ${this.settings.maxLongPollsPerClient} long-polls: retry later or poll without wait`,
              retry,
            ),
      );
    }
    const onClose = () => cancel();
    res.once('close', onClose);
  }

  /**
   * Seconds a refused client should wait: half the refresh interval, spread uniformly from half
   * to one and a half times that, so clients refused together do not come back together.
   */
  private retryAfterSeconds(): number {
    const base = Math.max(1, Math.round(this.settings.refreshIntervalSeconds / 2));
    const low = Math.ceil(base / 2);
    return low + Math.floor(Math.random() * (base + 1));
  }

  /** The client's address: the trusted proxy's header (its last entry) when configured and present, else the peer. */
  private clientOf(req: IncomingMessage): string {
    const name = this.settings.clientAddressHeader;
    if (name !== undefined) {
      const value = req.headers[name];
      const raw = Array.isArray(value) ? value[value.length - 1] : value;
      if (raw !== undefined) {
        const last = raw.slice(raw.lastIndexOf(',') + 1).trim();
        if (last !== '') return last.slice(0, CLIENT_KEY_MAX);
      }
    }
    return req.socket.remoteAddress ?? 'unknown';
  }

  /** OPTIONS is a CORS preflight (or a plain question of what is allowed); anything else is 405. */
  private notGet(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'OPTIONS') return this.fail(res, methodNotAllowed('GET, HEAD, OPTIONS'));
    res.writeHead(204, [...(this.current?.common ?? this.fallbackHeaders()), ...PREFLIGHT_HEADERS]);
    res.end();
  }

  private fail(res: ServerResponse, err: GatewayHttpError): void {
    sendError(res, err, this.current?.common ?? this.fallbackHeaders(), this.errorLinks(), CORS_HEADERS);
  }
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
