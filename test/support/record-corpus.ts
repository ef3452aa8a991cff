/**
 * One corpus of stored records, valid and invalid, for every kind: what the registry's pre-write
 * check, the store's reader, the gateway and the SDK must all judge the same way. The invalid
 * ones are the values of issue 13 (a `null` deployment, a deployment without upstreams, script
 * and `javascript:` values aimed at the public document) and their relatives.
 */
import type { RecordKind } from '../../topology/index.js';

export interface CorpusEntry {
  /** What the case shows, for test titles. */
  what: string;
  kind: Exclude<RecordKind, 'report'> | 'report';
  /** The key's name (service, region, gateway id). */
  name: string;
  /** The key's region, for gateways and reports. */
  region?: string;
  value: unknown;
  valid: boolean;
}

export const VALID_REGION = { name: 'eu-west', jurisdiction: 'EU', provider: 'cloud-a', location: 'Dublin' };
export const VALID_SERVICE = {
  name: 'catalog',
  basePath: '/catalog/v1',
  placement: 'regional',
  deployments: [{ region: 'eu-west', upstreams: ['http://127.0.0.1:9000', 'https://catalog.internal:8443/base'] }],
};
export const VALID_GATEWAY = { id: 'gw-1', region: 'eu-west', url: 'http://127.0.0.1:8090', status: 'up', startedAt: '2026-12-01T10:00:00.000Z', dispatch: false };
export const VALID_REPORT = { id: 'gw-1', region: 'eu-west', appliedRevision: 12, stale: false, reportedAt: '2026-12-01T10:00:01.000Z', registration: 'registered' };
export const VALID_COMMIT = { id: 'c-1', at: '2026-12-01T10:00:00.000Z', by: 'ci', operation: 'apply', summary: { created: 1, updated: 0, deleted: 0, unchanged: 2 }, sourceChunks: 1 };

const HUGE = 'x'.repeat(200_000);

/** `[[[…]]]`, `depth` arrays deep: JSON.parse copes, a recursive validator might not. */
function nested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const service = (what: string, patch: Record<string, unknown>, valid = false): CorpusEntry => ({
  what,
  kind: 'service',
  name: 'catalog',
  value: { ...VALID_SERVICE, ...patch },
  valid,
});
const region = (what: string, patch: Record<string, unknown>, valid = false): CorpusEntry => ({
  what,
  kind: 'region',
  name: 'eu-west',
  value: { ...VALID_REGION, ...patch },
  valid,
});
const gateway = (what: string, patch: Record<string, unknown>, valid = false): CorpusEntry => ({
  what,
  kind: 'gateway',
  name: 'gw-1',
  region: 'eu-west',
  value: { ...VALID_GATEWAY, ...patch },
  valid,
});

export const CORPUS: readonly CorpusEntry[] = [
  // Valid records of every kind.
  { what: 'a region', kind: 'region', name: 'eu-west', value: VALID_REGION, valid: true },
  region('a region without provider and location', { provider: undefined, location: undefined }, true),
  { what: 'a service', kind: 'service', name: 'catalog', value: VALID_SERVICE, valid: true },
  service('a pinned service', { placement: 'pinned', jurisdictions: ['EU'] }, true),
  service('a global service with failover', { placement: 'global', failover: ['eu-west'] }, true),
  service('a service without deployments', { deployments: [] }, true),
  service('a service with docs and openapi links', { docs: 'https://docs.example.com/catalog', openapi: '/catalog/v1/openapi.json' }, true),
  { what: 'a gateway registration', kind: 'gateway', name: 'gw-1', region: 'eu-west', value: VALID_GATEWAY, valid: true },
  { what: 'a gateway report', kind: 'report', name: 'gw-1', region: 'eu-west', value: VALID_REPORT, valid: true },
  {
    what: 'a report listing an invalid record',
    kind: 'report',
    name: 'gw-1',
    region: 'eu-west',
    value: { ...VALID_REPORT, invalidRecordCount: 1, invalidRecords: [{ key: '/waymark/v1/prod/services/zz', reason: 'deployments[0]: must be an object' }] },
    valid: true,
  },
  { what: 'a commit record', kind: 'commit', name: 'commit', value: VALID_COMMIT, valid: true },

  // Services: issue 13's records, then their relatives.
  service('deployments: [null]', { deployments: [null] }),
  service('a deployment without upstreams', { deployments: [{ region: 'eu-west' }] }),
  service('a deployment with no upstream', { deployments: [{ region: 'eu-west', upstreams: [] }] }),
  service('upstreams: null', { deployments: [{ region: 'eu-west', upstreams: null }] }),
  service('a javascript: upstream', { deployments: [{ region: 'eu-west', upstreams: ['javascript:alert(1)'] }] }),
  service('an upstream with CR/LF', { deployments: [{ region: 'eu-west', upstreams: ['http://a\r\nX-Evil: 1'] }] }),
  service('two deployments of one region', { deployments: [VALID_SERVICE.deployments[0], VALID_SERVICE.deployments[0]] }),
  service('placement "<script>"', { placement: '<script>alert(1)</script>' }),
  service('a base path with CR/LF', { basePath: '/a\r\nb' }),
  service('a base path that is a URL', { basePath: 'javascript:alert(1)' }),
  service('a reserved base path', { basePath: '/.well-known/x' }),
  service('a pinned service without jurisdictions', { placement: 'pinned' }),
  service('a jurisdiction "<script>"', { placement: 'pinned', jurisdictions: ['<script>'] }),
  service('failover naming "<script>"', { failover: ['<script>'] }),
  service('deployments: {}', { deployments: {} }),
  service('no deployments field', { deployments: undefined }),
  service('an unknown field', { upstreamSecret: 'x' }),
  service('a javascript: docs link', { docs: 'javascript:alert(1)' }),
  service('an openapi path outside the base path', { openapi: '/other/openapi.json' }),
  service('an openapi path escaping the base path', { openapi: '/catalog/v1/../../admin' }),
  service('docs with credentials', { docs: 'https://user:pw@docs.example.com/' }),
  service('docs with CR/LF', { docs: 'https://docs.example.com/\r\nX-Evil: 1' }),
  service('a huge openapi link', { openapi: `https://example.com/${HUGE}` }),
  service('openapi as a number', { openapi: 42 }),
  service('a name that does not match its key', { name: 'other' }),
  service('a name "<script>"', { name: '<script>' }),
  service('a huge base path', { basePath: `/${HUGE}` }),
  service('a number as base path', { basePath: 1e308 }),
  service('deeply nested deployments', { deployments: nested(500) }),

  // Regions.
  region('location "<script>" with CR/LF', { location: '<script>\r\nalert(1)</script>' }),
  region('a provider with an escape sequence', { provider: '\u001b[31mred' }),
  region('a huge location', { location: HUGE }),
  region('jurisdiction "eu"', { jurisdiction: 'eu' }),
  region('no jurisdiction', { jurisdiction: undefined }),
  region('a name that does not match its key', { name: 'us-east' }),
  region('location: {}', { location: {} }),

  // Gateway registrations.
  gateway('status "evil"', { status: 'evil' }),
  gateway('a javascript: URL', { url: 'javascript:alert(1)' }),
  gateway('a URL with CR/LF', { url: 'http://gw\r\n.example' }),
  gateway('a URL with credentials', { url: 'http://user:pw@gw.example' }),
  gateway('url: null', { url: null }),
  gateway('an id that does not match its key', { id: 'gw-2' }),
  gateway('a region that does not match its key', { region: 'us-east' }),
  gateway('startedAt "yesterday"', { startedAt: 'yesterday' }),

  // Reports and commits.
  { what: 'a report with appliedRevision 1e308', kind: 'report', name: 'gw-1', region: 'eu-west', value: { ...VALID_REPORT, appliedRevision: 1e308 }, valid: false },
  { what: 'a report with appliedRevision "12"', kind: 'report', name: 'gw-1', region: 'eu-west', value: { ...VALID_REPORT, appliedRevision: '12' }, valid: false },
  { what: 'a report with 21 invalid records', kind: 'report', name: 'gw-1', region: 'eu-west', value: { ...VALID_REPORT, invalidRecords: Array.from({ length: 21 }, () => ({ key: 'k', reason: 'r' })) }, valid: false },
  { what: 'a commit without summary', kind: 'commit', name: 'commit', value: { ...VALID_COMMIT, summary: undefined }, valid: false },
  { what: 'a commit with summary: null', kind: 'commit', name: 'commit', value: { ...VALID_COMMIT, summary: null }, valid: false },
  { what: 'a commit by "\\u001b[2J"', kind: 'commit', name: 'commit', value: { ...VALID_COMMIT, by: '\u001b[2J' }, valid: false },

  // Not records at all, for every kind.
  ...(['region', 'service', 'gateway', 'report', 'commit'] as const).flatMap((kind): CorpusEntry[] => [
    { what: `${kind}: null`, kind, name: kind === 'commit' ? 'commit' : kind === 'region' ? 'eu-west' : kind === 'service' ? 'catalog' : 'gw-1', region: 'eu-west', value: null, valid: false },
    { what: `${kind}: a JSON array`, kind, name: 'x', region: 'eu-west', value: [VALID_REGION], valid: false },
    { what: `${kind}: a huge string`, kind, name: 'x', region: 'eu-west', value: HUGE, valid: false },
    { what: `${kind}: a number`, kind, name: 'x', region: 'eu-west', value: 42, valid: false },
  ]),
];

/** Stored text of an entry (JSON, as a writer would put it). */
export function stored(entry: CorpusEntry): string {
  return JSON.stringify(entry.value);
}

/**
 * `base` with one field (or one field of a nested object or array item) replaced by `value`,
 * removed, or added under one of `extraKeys`; `a` and `b` pick where (fast-check draws them).
 */
export function mutateRecord(base: object, a: number, b: number, value: unknown, remove: boolean, extraKeys: readonly string[] = ['extra']): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
  const keys = [...Object.keys(copy), ...extraKeys];
  const key = keys[a % keys.length]!;
  const field = copy[key];
  if (Array.isArray(field) && field.length > 0 && b % 2 === 0) {
    const item = field[b % field.length] as unknown;
    if (item && typeof item === 'object' && !Array.isArray(item)) {
      const inner = Object.keys(item);
      (item as Record<string, unknown>)[inner[b % inner.length]!] = remove ? undefined : value;
    } else field[b % field.length] = value;
  } else if (field && typeof field === 'object' && !Array.isArray(field) && b % 2 === 0) {
    const inner = Object.keys(field);
    (field as Record<string, unknown>)[inner[b % inner.length]!] = value;
  } else if (remove) delete copy[key];
  else copy[key] = value;
  return copy;
}
