import { createHash } from 'node:crypto';
import type { EntryPoint, GatewayRegistration, Service, ServiceDefinition, TopologyDocument } from '../openapi/index.js';
import type { TopologySnapshot } from '../store/index.js';
import { DESCRIPTION_JSON_PATH, DESCRIPTION_JSON_TYPE } from './description.js';

/** What a document needs beyond etcd's content: set by the gateway that serves it. */
export interface DocumentOptions {
  /** How long clients may route on this document when no gateway answers. */
  maxStaleSeconds: number;
  refreshIntervalSeconds: number;
  refreshJitterSeconds: number;
  stale?: boolean;
  staleSince?: Date;
  /** Set when the gateway serves a bundle instead of etcd's content. */
  bundle?: { since: Date; loadedAt: Date; exportedAt: string };
  /** Entries of unchanged services kept from earlier documents (see ServiceEntries). */
  entries?: ServiceEntries;
}

/**
 * Public service entries reused across documents. An entry depends only on its definition and on
 * the regions and gateways given by `key`: after a change of one service out of 10 000, one entry
 * is rebuilt instead of every one. Entries must be treated as immutable.
 */
export interface ServiceEntries {
  get(definition: ServiceDefinition, key: string, build: () => Service): Service;
}

/** Where the well-known resources live, relative to a gateway's base URL. */
const TOPOLOGY = '/.well-known/topology';

/**
 * The public document: never contains upstreams or variables, and nothing of the gateway that
 * serves it (links are relative references, the gateway's facts travel in headers), so every
 * gateway of an environment serves the same bytes for the same revision while fresh.
 */
export function buildDocument(snapshot: TopologySnapshot, options: DocumentOptions): TopologyDocument {
  const regionNames = sortedKeys(snapshot.regions);
  const gatewaysOf = new Map(regionNames.map((name) => [name, snapshot.gatewaysIn(name).filter((g) => g.status === 'up')]));
  const entry = (s: ServiceDefinition, serving: string[]): Service => {
    const links: NonNullable<Service['_links']> = {
      self: { href: `${TOPOLOGY}/services/${encodeURIComponent(s.name)}` },
      entrypoints: entryPoints(snapshot, s, serving, gatewaysOf),
    };
    // As declared (RFC 8631): a path stays relative, so the bytes are the same on every gateway.
    if (s.openapi !== undefined) links['service-desc'] = { href: s.openapi };
    if (s.docs !== undefined) links['service-doc'] = { href: s.docs };
    const out: Service = { name: s.name, basePath: s.basePath, placement: s.placement, regions: serving, _links: links };
    if (s.jurisdictions?.length) out.jurisdictions = [...s.jurisdictions];
    if (s.failover?.length) out.failover = [...s.failover];
    return out;
  };
  const { entries } = options;
  // An entry depends on its definition, the region names and the gateways of the regions serving it.
  const fingerprints = entries ? regionFingerprints(snapshot, regionNames, gatewaysOf) : undefined;
  const services: Service[] = sortedKeys(snapshot.services).map((name) => {
    const s = snapshot.services.get(name)!;
    const serving = snapshot.servingRegions(s);
    if (!entries || !fingerprints) return entry(s, serving);
    const key = s.placement === 'global' ? fingerprints.all : `${fingerprints.names}|${serving.map((r) => fingerprints.byRegion.get(r)).join('|')}`;
    return entries.get(s, key, () => entry(s, serving));
  });
  const doc: TopologyDocument = {
    environment: snapshot.environment,
    revision: snapshot.revision,
    stale: options.stale ?? false,
    maxStaleSeconds: options.maxStaleSeconds,
    refresh: { intervalSeconds: options.refreshIntervalSeconds, jitterSeconds: options.refreshJitterSeconds },
    regions: regionNames.map((name) => {
      const r = snapshot.regions.get(name)!;
      return {
        name: r.name,
        jurisdiction: r.jurisdiction,
        ...(r.provider !== undefined ? { provider: r.provider } : {}),
        ...(r.location !== undefined ? { location: r.location } : {}),
        gateways: snapshot.gatewaysIn(name).map((g) => ({ id: g.id, url: g.url, status: g.status })),
      };
    }),
    services,
    // Served unchanged: clients verify it and check the rest of the document against it.
    ...(snapshot.signed ? { signed: snapshot.signed.jws } : {}),
    _links: {
      self: { href: TOPOLOGY, type: 'application/json' },
      services: { href: `${TOPOLOGY}/services`, type: 'application/json' },
      service: { href: `${TOPOLOGY}/services/{name}`, templated: true },
      'service-desc': { href: DESCRIPTION_JSON_PATH, type: DESCRIPTION_JSON_TYPE },
    },
  };
  if (options.stale && options.staleSince) doc.staleSince = options.staleSince.toISOString();
  if (options.bundle) {
    doc.bundle = { since: options.bundle.since.toISOString(), loadedAt: options.bundle.loadedAt.toISOString(), exportedAt: options.bundle.exportedAt };
  }
  return doc;
}

/**
 * A service's entry points: its base path on every gateway (`up`) of each region serving it, by
 * region then gateway id; a pinned service's only in the regions of its jurisdictions.
 */
function entryPoints(
  snapshot: TopologySnapshot,
  s: ServiceDefinition,
  serving: readonly string[],
  gatewaysOf: ReadonlyMap<string, readonly GatewayRegistration[]>,
): EntryPoint[] {
  const out: EntryPoint[] = [];
  for (const region of serving) {
    const jurisdiction = snapshot.regions.get(region)?.jurisdiction;
    if (s.placement === 'pinned' && (jurisdiction === undefined || !s.jurisdictions?.includes(jurisdiction))) continue;
    for (const g of gatewaysOf.get(region) ?? []) {
      out.push({ href: `${g.url.replace(/\/+$/, '')}${s.basePath}`, name: g.id, region, title: `${g.id} (${region})` });
    }
  }
  return out;
}

/** Short digests of what service entries depend on besides their definitions, computed once per document. */
function regionFingerprints(
  snapshot: TopologySnapshot,
  regionNames: readonly string[],
  gatewaysOf: ReadonlyMap<string, readonly GatewayRegistration[]>,
): { names: string; all: string; byRegion: Map<string, string> } {
  const byRegion = new Map<string, string>();
  for (const name of regionNames) {
    const text = `${snapshot.regions.get(name)!.jurisdiction} ${(gatewaysOf.get(name) ?? []).map((g) => `${g.id}=${g.url}`).join(' ')}`;
    byRegion.set(name, digest(text));
  }
  const names = regionNames.join(',');
  return { names, all: `${names}|*${digest([...byRegion.values()].join(''))}`, byRegion };
}

function digest(text: string): string {
  return createHash('sha1').update(text).digest('base64url');
}

function sortedKeys(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort();
}
