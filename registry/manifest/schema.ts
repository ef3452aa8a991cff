import type { CorsPolicy, Placement } from '../../openapi/index.js';

/** The only manifest API version this registry understands. */
export const API_VERSION = 'waymark/v1';

export const RESOURCE_KINDS = ['Environment', 'Region', 'Service'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const PLACEMENTS: readonly Placement[] = ['global', 'regional', 'pinned'];

/** Names a `${var}` may use. */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Limits on what one apply may contain. Every default is here. */
export interface ManifestLimits {
  /** Bytes of one YAML/JSON document. Default 128 KiB: a service is a few hundred bytes. */
  maxDocumentBytes?: number;
  /** Documents in one apply. Default 50 000 (an environment of 10 000 services fits easily). */
  maxDocuments?: number;
  /** YAML aliases resolved per document (guards against "billion laughs"). Default 100. */
  maxAliasCount?: number;
  /**
   * Keys of one mapping, counted in the text before it is parsed. Default 10 000: a manifest's
   * widest mapping is an Environment's variables; parsing costs grow with a mapping's width.
   */
  maxMappingKeys?: number;
  /**
   * Mapping keys plus list items in one apply, counted in the text before it is parsed. Default
   * 500 000: an environment of 10 000 services is about 200 000, which parse in about 3 s.
   */
  maxEntries?: number;
}

export const MANIFEST_DEFAULTS = {
  maxDocumentBytes: 128 * 1024,
  maxDocuments: 50_000,
  maxAliasCount: 100,
  maxMappingKeys: 10_000,
  maxEntries: 500_000,
} as const;

/** Where a document came from: the file named by the client and its zero-based index there. */
export interface Origin {
  file: string;
  document: number;
}

export interface EnvironmentSpec {
  variables: Record<string, string>;
}

export interface RegionSpec {
  jurisdiction: string;
  provider?: string;
  location?: string;
  /** Gateway URL patterns allowed to register in the region (signed; see topology/gateway-pattern.ts). */
  gatewayUrls?: string[];
}

export interface DeploymentSpec {
  region: string;
  upstreams: string[];
}

export interface ServiceSpec {
  basePath: string;
  placement: Placement;
  jurisdictions?: string[];
  deployments: DeploymentSpec[];
  failover?: string[];
  /** Documentation for people: an absolute http(s) URL or a path under basePath. */
  docs?: string;
  /** Machine-readable API description (OpenAPI): an absolute http(s) URL or a path under basePath. */
  openapi?: string;
  /** Which web pages may call the service from a browser; answered by the gateways, not published. */
  cors?: CorsPolicy;
}

export type Manifest =
  | { kind: 'Environment'; name: string; spec: EnvironmentSpec }
  | { kind: 'Region'; name: string; spec: RegionSpec }
  | { kind: 'Service'; name: string; spec: ServiceSpec };

/** A checked manifest with its origin and a way to point at the line of one of its fields. */
export interface LocatedManifest {
  origin: Origin;
  manifest: Manifest;
  /** Line and column of a field (`['spec', 'deployments', 0, 'region']`), when known. */
  locate(path: readonly PathSegment[]): Position | undefined;
}

export type PathSegment = string | number;

export interface Position {
  line: number;
  column: number;
}

/** `Kind/name`, as the contract's ErrorDetail.resource and the diff name resources. */
export function resourceId(kind: string, name: string): string {
  return `${kind}/${name}`;
}

/** `spec.deployments[0].region` from `['spec', 'deployments', 0, 'region']`. */
export function fieldPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** The manifest as a plain `waymark/v1` resource document (how sources are stored). */
export function toResource(m: Manifest): { apiVersion: string; kind: ResourceKind; metadata: { name: string }; spec: unknown } {
  return { apiVersion: API_VERSION, kind: m.kind, metadata: { name: m.name }, spec: m.spec };
}
