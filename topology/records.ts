/**
 * Validators of the records Waymark stores in etcd, one per kind, from the contract's schemas
 * (`RegionDefinition`, `ServiceDefinition` with its `Deployment`s, `GatewayRegistration`,
 * `GatewayReport`, `CommitRecord`) plus what a schema cannot say: base paths and URLs by the
 * core's rules, a record's name matching its key, a pinned service naming its jurisdictions.
 * The registry runs them before writing, the gateway and the registry on every value read, so
 * what one writes the others accept. They return problems (`path: what`), never throw, and
 * never look past the fields the contract names, so hostile nesting costs nothing.
 */
import { gatewayUrlPatternProblem, MAX_GATEWAY_URL_PATTERNS } from './gateway-pattern.js';
import type { CommitRecord, GatewayRegistration, GatewayReport, RegionDefinition, ServiceDefinition } from './types.js';
import {
  array,
  basePath,
  boolean,
  count,
  dateTime,
  gatewayUrl,
  jurisdiction,
  label,
  name,
  object,
  oneOf,
  required,
  serviceLink,
  text,
  upstreamUrl,
} from './fields.js';
import { checkCorsPolicy } from './cors.js';
import { at, ProblemList } from './problems.js';

export const PLACEMENTS = ['global', 'regional', 'pinned'] as const;
export const GATEWAY_STATUSES = ['up', 'draining'] as const;
const REGISTRATION_STATES = ['registered', 'registering', 'draining'] as const;
const COMMIT_OPERATIONS = ['apply', 'promote', 'rollback'] as const;
/** Invalid records a gateway lists in its report (the contract's `maxItems`). */
export const MAX_REPORTED_INVALID_RECORDS = 20;
export const MAX_INVALID_KEY_LENGTH = 512;
export const MAX_INVALID_REASON_LENGTH = 512;

/** The record kinds stored in etcd. */
export type RecordKind = 'region' | 'service' | 'gateway' | 'report' | 'commit';

/** What the key says a record must be named: its last segment (and region, for gateways and reports). */
export interface KeyNames {
  name: string;
  region?: string;
}

/** The outcome of checking a value: the typed record, or why not. */
export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };

export function validateRegionDefinition(value: unknown, key?: KeyNames): string[] {
  const p = new ProblemList();
  if (!object(value, '', p, ['name', 'jurisdiction', 'provider', 'location', 'gatewayUrls'])) return p.result();
  required(value, ['name', 'jurisdiction'], '', p);
  if (value.name !== undefined && name(value.name, 'name', p)) matchKey(value.name, key?.name, 'name', p);
  if (value.jurisdiction !== undefined) jurisdiction(value.jurisdiction, 'jurisdiction', p);
  if (value.provider !== undefined) label(value.provider, 'provider', p);
  if (value.location !== undefined) label(value.location, 'location', p);
  if (value.gatewayUrls !== undefined) {
    array(value.gatewayUrls, 'gatewayUrls', p, (u, path) => {
      const problem = gatewayUrlPatternProblem(u);
      if (problem) p.add(path, problem);
    }, MAX_GATEWAY_URL_PATTERNS);
  }
  return p.result();
}

export function validateServiceDefinition(value: unknown, key?: KeyNames): string[] {
  const p = new ProblemList();
  if (!object(value, '', p, ['name', 'basePath', 'placement', 'jurisdictions', 'failover', 'docs', 'openapi', 'cors', 'deployments'])) return p.result();
  required(value, ['name', 'basePath', 'placement', 'deployments'], '', p);
  if (value.name !== undefined && name(value.name, 'name', p)) matchKey(value.name, key?.name, 'name', p);
  if (value.basePath !== undefined) basePath(value.basePath, 'basePath', p);
  if (value.placement !== undefined) oneOf(value.placement, PLACEMENTS, 'placement', p);
  if (value.jurisdictions !== undefined) array(value.jurisdictions, 'jurisdictions', p, (j, path) => jurisdiction(j, path, p));
  // The routing rule (candidates.ts) lets a pinned service through its jurisdictions only: none would be no route at all.
  if (value.placement === 'pinned' && !(Array.isArray(value.jurisdictions) && value.jurisdictions.length > 0)) {
    p.add('jurisdictions', 'a pinned service must list its jurisdictions');
  }
  if (value.failover !== undefined) array(value.failover, 'failover', p, (r, path) => name(r, path, p));
  // Checked against the base path only when it is valid: a bad base path is its own problem.
  for (const f of ['docs', 'openapi'] as const) if (value[f] !== undefined) serviceLink(value[f], value.basePath, f, p);
  if (value.cors !== undefined) checkCorsPolicy(value.cors, 'cors', p);
  if (value.deployments !== undefined) {
    const regions = new Set<string>();
    array(value.deployments, 'deployments', p, (d, path) => {
      if (!object(d, path, p, ['region', 'upstreams'])) return;
      required(d, ['region', 'upstreams'], path, p);
      if (d.region !== undefined && name(d.region, at(path, 'region'), p)) {
        // Two deployments of one region would leave the gateway to pick one at random.
        if (regions.has(d.region)) p.add(at(path, 'region'), `region ${d.region} has two deployments`);
        regions.add(d.region);
      }
      if (d.upstreams !== undefined && array(d.upstreams, at(path, 'upstreams'), p, (u, upath) => upstreamUrl(u, upath, p)) && d.upstreams.length === 0) {
        p.add(at(path, 'upstreams'), 'must list at least one URL');
      }
    });
  }
  return p.result();
}

export function validateGatewayRegistration(value: unknown, key?: KeyNames): string[] {
  const p = new ProblemList();
  if (!object(value, '', p)) return p.result();
  required(value, ['id', 'region', 'url', 'status', 'startedAt'], '', p);
  gatewayIdentity(value, key, p);
  if (value.url !== undefined) gatewayUrl(value.url, 'url', p);
  if (value.status !== undefined) oneOf(value.status, GATEWAY_STATUSES, 'status', p);
  if (value.startedAt !== undefined) dateTime(value.startedAt, 'startedAt', p);
  if (value.dispatch !== undefined) boolean(value.dispatch, 'dispatch', p);
  if (value.version !== undefined) label(value.version, 'version', p);
  return p.result();
}

export function validateGatewayReport(value: unknown, key?: KeyNames): string[] {
  const p = new ProblemList();
  if (!object(value, '', p)) return p.result();
  required(value, ['id', 'region', 'appliedRevision', 'stale', 'reportedAt'], '', p);
  gatewayIdentity(value, key, p);
  if (value.appliedRevision !== undefined) count(value.appliedRevision, 'appliedRevision', p);
  if (value.stale !== undefined) boolean(value.stale, 'stale', p);
  if (value.staleSince !== undefined) dateTime(value.staleSince, 'staleSince', p);
  if (value.reportedAt !== undefined) dateTime(value.reportedAt, 'reportedAt', p);
  if (value.registration !== undefined) oneOf(value.registration, REGISTRATION_STATES, 'registration', p);
  if (value.invalidRecordCount !== undefined) count(value.invalidRecordCount, 'invalidRecordCount', p);
  if (value.invalidRecords !== undefined) {
    array(
      value.invalidRecords,
      'invalidRecords',
      p,
      (r, path) => {
        if (!object(r, path, p, ['key', 'reason'])) return;
        required(r, ['key', 'reason'], path, p);
        if (r.key !== undefined) text(r.key, at(path, 'key'), p, MAX_INVALID_KEY_LENGTH);
        if (r.reason !== undefined) text(r.reason, at(path, 'reason'), p, MAX_INVALID_REASON_LENGTH);
      },
      MAX_REPORTED_INVALID_RECORDS,
    );
  }
  return p.result();
}

export function validateCommitRecord(value: unknown): string[] {
  const p = new ProblemList();
  if (!object(value, '', p)) return p.result();
  required(value, ['id', 'at', 'summary'], '', p);
  if (value.id !== undefined) text(value.id, 'id', p, 128);
  if (value.at !== undefined) dateTime(value.at, 'at', p);
  if (value.by !== undefined) label(value.by, 'by', p);
  if (value.operation !== undefined) oneOf(value.operation, COMMIT_OPERATIONS, 'operation', p);
  if (value.from !== undefined) name(value.from, 'from', p);
  if (value.sourceChunks !== undefined) count(value.sourceChunks, 'sourceChunks', p);
  if (value.summary !== undefined && object(value.summary, 'summary', p)) {
    required(value.summary, ['created', 'updated', 'deleted', 'unchanged'], 'summary', p);
    for (const f of ['created', 'updated', 'deleted', 'unchanged']) {
      if (value.summary[f] !== undefined) count(value.summary[f], at('summary', f), p);
    }
  }
  return p.result();
}

/** Checks a value of a kind: the typed record when valid. */
export function checkRecord(kind: 'region', value: unknown, key?: KeyNames): Checked<RegionDefinition>;
export function checkRecord(kind: 'service', value: unknown, key?: KeyNames): Checked<ServiceDefinition>;
export function checkRecord(kind: 'gateway', value: unknown, key?: KeyNames): Checked<GatewayRegistration>;
export function checkRecord(kind: 'report', value: unknown, key?: KeyNames): Checked<GatewayReport>;
export function checkRecord(kind: 'commit', value: unknown, key?: KeyNames): Checked<CommitRecord>;
export function checkRecord(kind: RecordKind, value: unknown, key?: KeyNames): Checked<unknown>;
export function checkRecord(kind: RecordKind, value: unknown, key?: KeyNames): Checked<unknown> {
  const problems = VALIDATORS[kind](value, key);
  return problems.length === 0 ? { ok: true, value } : { ok: false, problems };
}

/**
 * Parses a stored value (JSON text) and checks it: what a reader does with every value it gets
 * from etcd. Never throws, whatever the text.
 */
export function parseRecord(kind: 'region', text: string, key?: KeyNames): Checked<RegionDefinition>;
export function parseRecord(kind: 'service', text: string, key?: KeyNames): Checked<ServiceDefinition>;
export function parseRecord(kind: 'gateway', text: string, key?: KeyNames): Checked<GatewayRegistration>;
export function parseRecord(kind: 'report', text: string, key?: KeyNames): Checked<GatewayReport>;
export function parseRecord(kind: 'commit', text: string, key?: KeyNames): Checked<CommitRecord>;
export function parseRecord(kind: RecordKind, text: string, key?: KeyNames): Checked<unknown>;
export function parseRecord(kind: RecordKind, text: string, key?: KeyNames): Checked<unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text, which may hold an upstream's credentials.
    return { ok: false, problems: [`not JSON (${text.length} characters)`] };
  }
  return checkRecord(kind, value, key);
}

const VALIDATORS: Readonly<Record<RecordKind, (value: unknown, key?: KeyNames) => string[]>> = {
  region: validateRegionDefinition,
  service: validateServiceDefinition,
  gateway: validateGatewayRegistration,
  report: validateGatewayReport,
  commit: validateCommitRecord,
};

function gatewayIdentity(value: Record<string, unknown>, key: KeyNames | undefined, p: ProblemList): void {
  if (value.id !== undefined && name(value.id, 'id', p)) matchKey(value.id, key?.name, 'id', p);
  if (value.region !== undefined && name(value.region, 'region', p)) matchKey(value.region, key?.region, 'region', p);
}

/** A record named differently from its key would be served under one name and stored under another. */
function matchKey(actual: string, expected: string | undefined, path: string, p: ProblemList): void {
  if (expected !== undefined && actual !== expected) p.add(path, `is "${actual}" but the key says "${expected}"`);
}
