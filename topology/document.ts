/**
 * The validator of the public TopologyDocument: what the SDK checks on every document it
 * receives, and what the gateway's documents always pass because they are built from records
 * that passed the record validators. The contract's shape, http(s) gateway URLs only, unique
 * names, and services that name only regions of the document.
 */
import {
  array,
  basePath,
  boolean,
  count,
  dateTime,
  gatewayUrl,
  isObject,
  jurisdiction,
  label,
  link,
  name,
  object,
  oneOf,
  required,
  serviceLink,
} from './fields.js';
import { topologySizeProblems } from './limits.js';
import { isValidName } from './names.js';
import { at, ProblemList } from './problems.js';
import { GATEWAY_STATUSES, PLACEMENTS } from './records.js';

/** Refresh intervals and jitter beyond a day would stop clients from ever refreshing. */
const MAX_REFRESH_SECONDS = 86_400;
/** A service's links that come from its declared `openapi` and `docs` (RFC 8631). */
const SERVICE_LINK_RELS: ReadonlySet<string> = new Set(['service-desc', 'service-doc']);

export function validateTopologyDocument(value: unknown): string[] {
  const p = new ProblemList();
  if (!isObject(value)) {
    p.add('', 'the document is not a JSON object');
    return p.result();
  }
  const d = value;
  // The caps first: a document over them is rejected before any work in proportion to its size.
  const over = sizeProblems(d);
  if (over.length > 0) {
    for (const problem of over) p.add('', `the document has ${problem} (TOPOLOGY_LIMITS)`);
    return p.result();
  }
  name(d.environment, 'environment', p);
  count(d.revision, 'revision', p);
  // Documents no longer carry it (the same revision has the same bytes on every gateway); older gateways send it.
  if (d.generatedAt !== undefined) dateTime(d.generatedAt, 'generatedAt', p);
  boolean(d.stale, 'stale', p);
  if (d.staleSince !== undefined) dateTime(d.staleSince, 'staleSince', p);
  count(d.maxStaleSeconds, 'maxStaleSeconds', p);
  if (object(d.refresh, 'refresh', p)) {
    seconds(d.refresh.intervalSeconds, 'refresh.intervalSeconds', p);
    seconds(d.refresh.jitterSeconds, 'refresh.jitterSeconds', p);
  }
  if (d.servedBy !== undefined && object(d.servedBy, 'servedBy', p)) {
    name(d.servedBy.gateway, 'servedBy.gateway', p);
    name(d.servedBy.region, 'servedBy.region', p);
  }
  const regionNames = new Set<string>();
  /** `<region>/<id>` → the gateway's URL without a trailing '/': what entry points may start with. */
  const gatewayUrls = new Map<string, string>();
  array(d.regions, 'regions', p, (r, path) => {
    if (!object(r, path, p)) return;
    if (name(r.name, at(path, 'name'), p)) {
      if (regionNames.has(r.name)) p.add(at(path, 'name'), `duplicate region "${r.name}"`);
      regionNames.add(r.name);
    }
    jurisdiction(r.jurisdiction, at(path, 'jurisdiction'), p);
    if (r.provider !== undefined) label(r.provider, at(path, 'provider'), p);
    if (r.location !== undefined) label(r.location, at(path, 'location'), p);
    const ids = new Set<string>();
    array(r.gateways, at(path, 'gateways'), p, (g, gpath) => {
      if (!object(g, gpath, p)) return;
      if (name(g.id, at(gpath, 'id'), p)) {
        if (ids.has(g.id)) p.add(at(gpath, 'id'), `duplicate gateway "${g.id}"`);
        ids.add(g.id);
      }
      if (gatewayUrl(g.url, at(gpath, 'url'), p) && typeof r.name === 'string' && typeof g.id === 'string') {
        gatewayUrls.set(`${r.name}/${g.id}`, g.url.replace(/\/+$/, ''));
      }
      oneOf(g.status, GATEWAY_STATUSES, at(gpath, 'status'), p);
    });
  });
  const serviceNames = new Set<string>();
  array(d.services, 'services', p, (s, path) => {
    if (!object(s, path, p)) return;
    if (name(s.name, at(path, 'name'), p)) {
      if (serviceNames.has(s.name)) p.add(at(path, 'name'), `duplicate service "${s.name}"`);
      serviceNames.add(s.name);
    }
    basePath(s.basePath, at(path, 'basePath'), p);
    oneOf(s.placement, PLACEMENTS, at(path, 'placement'), p);
    array(s.regions, at(path, 'regions'), p, (r, rpath) => {
      if (name(r, rpath, p) && !regionNames.has(r)) p.add(rpath, `unknown region "${r}"`);
    });
    if (s.jurisdictions !== undefined) array(s.jurisdictions, at(path, 'jurisdictions'), p, (j, jpath) => jurisdiction(j, jpath, p));
    if (s.placement === 'pinned' && !(Array.isArray(s.jurisdictions) && s.jurisdictions.length > 0)) {
      p.add(at(path, 'jurisdictions'), 'a pinned service must list its jurisdictions');
    }
    if (s.failover !== undefined) array(s.failover, at(path, 'failover'), p, (r, rpath) => name(r, rpath, p));
    if (s._links !== undefined) serviceLinks(s._links, s.basePath, gatewayUrls, at(path, '_links'), p);
  });
  if (object(d._links, '_links', p)) {
    required(d._links, ['self', 'service'], '_links', p);
    links(d._links, '_links', p);
  }
  return p.result();
}

/**
 * A service's links: `entrypoints` may only be the service's base path on a gateway the document
 * lists under that region, so no document can aim a link-following client at another host.
 */
function serviceLinks(v: unknown, basePath: unknown, gatewayUrls: ReadonlyMap<string, string>, path: string, p: ProblemList): void {
  if (!object(v, path, p)) return;
  required(v, ['self', 'entrypoints'], path, p);
  for (const [rel, l] of Object.entries(v)) {
    if (rel !== 'entrypoints') {
      link(l, at(path, rel), p);
      // A service's declared links follow the registry's rule, so a document cannot aim a client elsewhere.
      if (SERVICE_LINK_RELS.has(rel) && isObject(l)) serviceLink(l.href, basePath, at(at(path, rel), 'href'), p);
      continue;
    }
    array(l, at(path, rel), p, (e, epath) => {
      if (!object(e, epath, p)) return;
      link(e, epath, p);
      const named = name(e.name, at(epath, 'name'), p) && name(e.region, at(epath, 'region'), p);
      if (!named) return;
      const url = gatewayUrls.get(`${e.region}/${e.name}`);
      if (url === undefined) p.add(at(epath, 'name'), `gateway "${e.name}" is not listed in region "${e.region}"`);
      else if (e.href !== `${url}${String(basePath)}`) p.add(at(epath, 'href'), "must be the gateway's URL followed by the service's base path");
    });
  }
}

/** The document's size against TOPOLOGY_LIMITS (shapes that are not arrays count as empty: the walk reports them). */
function sizeProblems(d: Record<string, unknown>): string[] {
  const regions = Array.isArray(d.regions) ? (d.regions as unknown[]) : [];
  const gatewaysByRegion = new Map<string, number>();
  regions.forEach((r, i) => {
    const gateways = isObject(r) && Array.isArray(r.gateways) ? r.gateways.length : 0;
    const key = isObject(r) && isValidName(r.name) ? r.name : `#${i}`;
    gatewaysByRegion.set(key, (gatewaysByRegion.get(key) ?? 0) + gateways);
  });
  return topologySizeProblems({ regions: regions.length, services: Array.isArray(d.services) ? d.services.length : 0, gatewaysByRegion });
}

function links(v: unknown, path: string, p: ProblemList): void {
  if (!object(v, path, p)) return;
  for (const [rel, l] of Object.entries(v)) link(l, at(path, rel), p);
}

function seconds(v: unknown, path: string, p: ProblemList): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_REFRESH_SECONDS) {
    p.add(path, `must be a number of seconds between 0 and ${MAX_REFRESH_SECONDS}`);
  }
}
