import type { TopologyDocument } from '../openapi/index.js';
import { basePathProblem, gatewayUrlProblem, isValidJurisdiction, isValidName } from '../topology/index.js';
import { InvalidTopologyError } from './errors.js';

const MAX_PROBLEMS = 20;

/** Parses a received body into a checked document; throws InvalidTopologyError naming each problem. */
export function parseDocument(body: string, source: string, maxBytes: number): TopologyDocument {
  if (Buffer.byteLength(body) > maxBytes) {
    throw new InvalidTopologyError(source, 'too-large', [`the document is larger than ${maxBytes} bytes`]);
  }
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    throw new InvalidTopologyError(source, 'malformed', [`not JSON: ${(err as Error).message}`]);
  }
  return checkDocument(data, source);
}

/**
 * Checks that `data` is a TopologyDocument the SDK can route on: the contract's shape, http(s)
 * gateway URLs only (a hostile gateway must not steer calls to `file:` or `javascript:`), unique
 * names, and services that only name regions of the document.
 */
export function checkDocument(data: unknown, source: string): TopologyDocument {
  const problems: string[] = [];
  const fail = (where: string, what: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(`${where}: ${what}`);
  };
  if (!isObject(data)) throw new InvalidTopologyError(source, 'malformed', ['the document is not a JSON object']);
  const d = data;
  name(d.environment, 'environment', fail);
  if (!Number.isSafeInteger(d.revision) || (d.revision as number) < 0) fail('revision', 'must be an integer ≥ 0');
  if (typeof d.stale !== 'boolean') fail('stale', 'must be a boolean');
  if (d.staleSince !== undefined) date(d.staleSince, 'staleSince', fail);
  if (!Number.isSafeInteger(d.maxStaleSeconds) || (d.maxStaleSeconds as number) < 0) fail('maxStaleSeconds', 'must be an integer ≥ 0');
  if (!isObject(d.refresh)) fail('refresh', 'must be an object');
  else {
    seconds(d.refresh.intervalSeconds, 'refresh.intervalSeconds', fail);
    seconds(d.refresh.jitterSeconds, 'refresh.jitterSeconds', fail);
  }
  const regionNames = new Set<string>();
  if (!Array.isArray(d.regions)) fail('regions', 'must be an array');
  else {
    d.regions.forEach((r: unknown, i: number) => {
      const at = `regions[${i}]`;
      if (!isObject(r)) return fail(at, 'must be an object');
      if (name(r.name, `${at}.name`, fail)) {
        if (regionNames.has(r.name as string)) fail(`${at}.name`, `duplicate region "${String(r.name)}"`);
        regionNames.add(r.name as string);
      }
      if (!isValidJurisdiction(r.jurisdiction)) fail(`${at}.jurisdiction`, 'must be like "EU" or "US"');
      if (!Array.isArray(r.gateways)) return fail(`${at}.gateways`, 'must be an array');
      const ids = new Set<string>();
      r.gateways.forEach((g: unknown, j: number) => {
        const gat = `${at}.gateways[${j}]`;
        if (!isObject(g)) return fail(gat, 'must be an object');
        if (name(g.id, `${gat}.id`, fail)) {
          if (ids.has(g.id as string)) fail(`${gat}.id`, `duplicate gateway "${String(g.id)}"`);
          ids.add(g.id as string);
        }
        gatewayUrl(g.url, `${gat}.url`, fail);
        if (g.status !== 'up' && g.status !== 'draining') fail(`${gat}.status`, 'must be "up" or "draining"');
      });
    });
  }
  if (!Array.isArray(d.services)) fail('services', 'must be an array');
  else {
    const serviceNames = new Set<string>();
    d.services.forEach((s: unknown, i: number) => {
      const at = `services[${i}]`;
      if (!isObject(s)) return fail(at, 'must be an object');
      if (name(s.name, `${at}.name`, fail)) {
        if (serviceNames.has(s.name as string)) fail(`${at}.name`, `duplicate service "${String(s.name)}"`);
        serviceNames.add(s.name as string);
      }
      const basePath = basePathProblem(s.basePath);
      if (basePath) fail(`${at}.basePath`, basePath);
      if (s.placement !== 'global' && s.placement !== 'regional' && s.placement !== 'pinned') {
        fail(`${at}.placement`, 'must be "global", "regional" or "pinned"');
      }
      if (!Array.isArray(s.regions)) fail(`${at}.regions`, 'must be an array');
      else {
        s.regions.forEach((r: unknown, j: number) => {
          if (name(r, `${at}.regions[${j}]`, fail) && !regionNames.has(r as string)) fail(`${at}.regions[${j}]`, `unknown region "${String(r)}"`);
        });
      }
      if (s.jurisdictions !== undefined) {
        if (!Array.isArray(s.jurisdictions)) fail(`${at}.jurisdictions`, 'must be an array');
        else s.jurisdictions.forEach((j: unknown, k: number) => {
          if (!isValidJurisdiction(j)) fail(`${at}.jurisdictions[${k}]`, 'must be like "EU" or "US"');
        });
      }
      if (s.placement === 'pinned' && !(Array.isArray(s.jurisdictions) && s.jurisdictions.length > 0)) {
        fail(`${at}.jurisdictions`, 'a pinned service must list its jurisdictions');
      }
      if (s.failover !== undefined) {
        if (!Array.isArray(s.failover)) fail(`${at}.failover`, 'must be an array');
        else s.failover.forEach((r: unknown, k: number) => name(r, `${at}.failover[${k}]`, fail));
      }
    });
  }
  if (!isObject(d._links) || !isObject(d._links.self) || typeof d._links.self.href !== 'string') fail('_links.self.href', 'must be a string');
  if (problems.length > 0) throw new InvalidTopologyError(source, 'malformed', problems);
  return data as unknown as TopologyDocument;
}

type Fail = (where: string, what: string) => void;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function name(v: unknown, where: string, fail: Fail): boolean {
  if (isValidName(v)) return true;
  fail(where, 'must be a DNS label (lowercase letters, digits, "-")');
  return false;
}

function date(v: unknown, where: string, fail: Fail): void {
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) fail(where, 'must be a date-time');
}

function seconds(v: unknown, where: string, fail: Fail): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 86_400) fail(where, 'must be a number of seconds between 0 and 86400');
}

function gatewayUrl(v: unknown, where: string, fail: Fail): void {
  const problem = gatewayUrlProblem(v);
  if (problem) fail(where, problem);
}
