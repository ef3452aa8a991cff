import type { CorsPolicy, Placement, RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import {
  basePathProblem,
  gatewayUrlPatternProblem,
  isValidJurisdiction,
  isValidName,
  MAX_GATEWAY_URL_PATTERNS,
  serviceLinkProblem,
  topologySizeProblems,
  validateCorsPolicy,
} from '../../topology/index.js';
import type { Problems, ProblemSubject } from './errors.js';
import type { ParsedDocument } from './parse.js';
import {
  API_VERSION,
  PLACEMENTS,
  RESOURCE_KINDS,
  resourceId,
  type LocatedManifest,
  type Manifest,
  type PathSegment,
  type ResourceKind,
} from './schema.js';
import { emptyVariables, variableNameProblem } from './variables.js';

type Obj = Record<string, unknown>;

const NAME_HINT = "use 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit";
const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec'];
const METADATA_FIELDS = ['name', 'labels'];
const SPEC_FIELDS: Record<ResourceKind, string[]> = {
  Environment: ['variables'],
  Region: ['jurisdiction', 'provider', 'location', 'gatewayUrls'],
  Service: ['basePath', 'placement', 'jurisdictions', 'deployments', 'failover', 'docs', 'openapi', 'cors'],
};

/** A document's kind and name, known even when the rest of it has problems (for duplicate checks). */
export interface DocumentRef {
  kind: ResourceKind;
  name: string;
  origin: LocatedManifest['origin'];
  locate: LocatedManifest['locate'];
}

/** What checkDocument makes of one document. */
export interface CheckedDocument {
  /**
   * The document typed, whenever its kind, name and required fields allow building it, even with
   * problems (`complete: false`): the cross-checks of an apply still look at it, so one rejection
   * reports the problems between documents too. It is never written unless complete.
   */
  located?: LocatedManifest;
  /** True when the document has no problem. */
  complete: boolean;
  /** Its kind and name, whenever they are valid. */
  ref?: DocumentRef;
}

/** Checks one parsed document's shape (kinds, fields, types, names). */
export function checkDocument(doc: ParsedDocument, problems: Problems): CheckedDocument {
  return new DocumentChecker(doc, problems).check();
}

class DocumentChecker {
  private ok = true;
  private kind: string | undefined;
  private name: string | undefined;
  /** The name as written, valid or not, so problems can still name the resource. */
  private label: string | undefined;

  constructor(
    private readonly doc: ParsedDocument,
    private readonly problems: Problems,
  ) {}

  check(): CheckedDocument {
    const root = this.object(this.doc.value, []);
    if (!root) return { complete: false };
    const kind = root.kind;
    if (typeof kind === 'string' && (RESOURCE_KINDS as readonly string[]).includes(kind)) this.kind = kind;
    const metadata = this.object(root.metadata, ['metadata']);
    if (metadata && typeof metadata.name === 'string') this.label = metadata.name.slice(0, 100);
    if (metadata && isValidName(metadata.name)) this.name = metadata.name;
    if (root.apiVersion !== API_VERSION) {
      this.fail(['apiVersion'], `unknown apiVersion ${JSON.stringify(root.apiVersion)}: use ${API_VERSION}`);
    }
    if (!this.kind) this.fail(['kind'], `unknown kind ${JSON.stringify(kind)}: use one of ${RESOURCE_KINDS.join(', ')}`);
    this.fields(root, [], TOP_FIELDS);
    if (metadata) {
      this.fields(metadata, ['metadata'], METADATA_FIELDS);
      if (metadata.name === undefined) this.fail(['metadata', 'name'], 'metadata.name is required');
      else if (!this.name) this.fail(['metadata', 'name'], `${JSON.stringify(metadata.name)} is not a valid name: ${NAME_HINT}`);
      if (metadata.labels !== undefined) this.stringMap(metadata.labels, ['metadata', 'labels']);
    }
    const kindName = this.kind as ResourceKind | undefined;
    const ref: DocumentRef | undefined =
      kindName && this.name ? { kind: kindName, name: this.name, origin: this.doc.origin, locate: this.doc.locate } : undefined;
    const spec = this.object(root.spec, ['spec']);
    if (!kindName || !spec) return { complete: false, ...(ref ? { ref } : {}) };
    this.fields(spec, ['spec'], SPEC_FIELDS[kindName]);
    const manifest = this.spec(kindName, this.name ?? this.label ?? '', spec);
    if (!manifest || !ref) return { complete: false, ...(ref ? { ref } : {}) };
    return { located: { origin: this.doc.origin, manifest, locate: this.doc.locate }, complete: this.ok, ref };
  }

  private spec(kind: ResourceKind, name: string, spec: Obj): Manifest | undefined {
    switch (kind) {
      case 'Environment': {
        const variables = spec.variables === undefined ? emptyVariables() : this.stringMap(spec.variables, ['spec', 'variables'], variableNameProblem);
        return variables ? { kind, name, spec: { variables } } : undefined;
      }
      case 'Region': {
        const jurisdiction = this.string(spec.jurisdiction, ['spec', 'jurisdiction'], true);
        if (jurisdiction !== undefined && !isValidJurisdiction(jurisdiction)) {
          this.fail(['spec', 'jurisdiction'], `${JSON.stringify(jurisdiction)} is not a jurisdiction: use upper-case letters, digits and '-', such as EU or US`);
        }
        const provider = this.string(spec.provider, ['spec', 'provider'], false);
        const location = this.string(spec.location, ['spec', 'location'], false);
        const gatewayUrls = spec.gatewayUrls === undefined ? undefined : this.stringList(spec.gatewayUrls, ['spec', 'gatewayUrls']);
        gatewayUrls?.forEach((u, i) => {
          // With variables, the rendered value is checked before writing (checkBeforeWriting).
          const problem = u.includes('${') ? undefined : gatewayUrlPatternProblem(u);
          if (problem) this.fail(['spec', 'gatewayUrls', i], `${JSON.stringify(u)} is not a gateway URL pattern: ${problem}`);
        });
        if (gatewayUrls && gatewayUrls.length > MAX_GATEWAY_URL_PATTERNS) this.fail(['spec', 'gatewayUrls'], `at most ${MAX_GATEWAY_URL_PATTERNS} patterns`);
        if (jurisdiction === undefined) return undefined;
        return {
          kind,
          name,
          spec: {
            jurisdiction,
            ...(provider !== undefined ? { provider } : {}),
            ...(location !== undefined ? { location } : {}),
            ...(gatewayUrls !== undefined ? { gatewayUrls } : {}),
          },
        };
      }
      case 'Service':
        return this.service(name, spec);
    }
  }

  private service(name: string, spec: Obj): Manifest | undefined {
    const basePath = this.string(spec.basePath, ['spec', 'basePath'], true);
    const placement = this.string(spec.placement, ['spec', 'placement'], true);
    if (placement !== undefined && !(PLACEMENTS as readonly string[]).includes(placement)) {
      this.fail(['spec', 'placement'], `unknown placement ${JSON.stringify(placement)}: use one of ${PLACEMENTS.join(', ')}`);
    }
    const jurisdictions = spec.jurisdictions === undefined ? undefined : this.stringList(spec.jurisdictions, ['spec', 'jurisdictions']);
    jurisdictions?.forEach((j, i) => {
      if (!isValidJurisdiction(j)) this.fail(['spec', 'jurisdictions', i], `${JSON.stringify(j)} is not a jurisdiction: use upper-case letters, digits and '-', such as EU or US`);
    });
    if (placement === 'pinned' && !jurisdictions?.length) {
      this.fail(['spec', 'jurisdictions'], 'a pinned service needs jurisdictions: the legal areas its traffic may go through, such as [EU]');
    }
    if (placement !== undefined && placement !== 'pinned' && jurisdictions !== undefined) {
      this.fail(['spec', 'jurisdictions'], `jurisdictions apply only to pinned services; this one is ${placement}: remove them or use placement: pinned`);
    }
    const failover = spec.failover === undefined ? undefined : this.stringList(spec.failover, ['spec', 'failover']);
    failover?.forEach((r, i) => {
      if (!isValidName(r)) this.fail(['spec', 'failover', i], `${JSON.stringify(r)} is not a region name: ${NAME_HINT}`);
      else if (failover.indexOf(r) !== i) this.fail(['spec', 'failover', i], `region ${r} is listed twice`);
    });
    const links = this.serviceLinks(spec, basePath);
    const cors = spec.cors === undefined ? undefined : this.cors(spec.cors);
    const deployments: ServiceDefinition['deployments'] = [];
    if (spec.deployments === undefined) {
      this.fail(['spec', 'deployments'], 'spec.deployments is required: at least one region with its upstreams');
    } else if (!Array.isArray(spec.deployments) || spec.deployments.length === 0) {
      this.fail(['spec', 'deployments'], 'spec.deployments must be a non-empty list of {region, upstreams}');
    } else {
      spec.deployments.forEach((raw, i) => {
        const path = ['spec', 'deployments', i];
        const d = this.object(raw, path);
        if (!d) return;
        this.fields(d, path, ['region', 'upstreams']);
        const region = this.string(d.region, [...path, 'region'], true);
        if (region !== undefined && !isValidName(region)) this.fail([...path, 'region'], `${JSON.stringify(region)} is not a region name: ${NAME_HINT}`);
        else if (region !== undefined && deployments.some((x) => x.region === region)) {
          this.fail([...path, 'region'], `region ${region} has two deployments: list all its upstreams in one`);
        }
        const upstreams = d.upstreams === undefined ? undefined : this.stringList(d.upstreams, [...path, 'upstreams']);
        if (d.upstreams === undefined) this.fail([...path, 'upstreams'], 'upstreams is required: the absolute http(s) URLs of the backends');
        else if (upstreams?.length === 0) this.fail([...path, 'upstreams'], 'upstreams must list at least one URL');
        if (region !== undefined && upstreams) deployments.push({ region, upstreams });
      });
    }
    if (basePath === undefined || placement === undefined) return undefined;
    return {
      kind: 'Service',
      name,
      spec: {
        basePath,
        placement: placement as Placement,
        ...(jurisdictions !== undefined ? { jurisdictions } : {}),
        deployments,
        ...(failover !== undefined ? { failover } : {}),
        ...links,
        ...(cors !== undefined ? { cors } : {}),
      },
    };
  }

  /**
   * `cors`: checked by the core's rule, each problem at its own field. An origin holding a
   * `${var}` is checked once rendered, by the same rule, before anything is written.
   */
  private cors(value: unknown): CorsPolicy | undefined {
    const origins = (value as { allowOrigins?: unknown } | null)?.allowOrigins;
    const probe = Array.isArray(origins)
      ? { ...(value as object), allowOrigins: origins.map((o, i) => (typeof o === 'string' && o.includes('${') ? `https://variable-${i}.invalid` : o)) }
      : value;
    const problems = validateCorsPolicy(probe);
    for (const problem of problems) {
      const colon = problem.indexOf(': ');
      const path = colon < 0 ? '' : problem.slice(0, colon);
      const segments = (path.match(/[^.[\]]+|\[\d+\]/g) ?? []).map((s) => (s.startsWith('[') ? Number(s.slice(1, -1)) : s));
      this.fail(['spec', 'cors', ...segments], colon < 0 ? problem : problem.slice(colon + 2));
    }
    return problems.length === 0 ? (value as CorsPolicy) : undefined;
  }

  /**
   * `docs` and `openapi`: where the service's API is described, published in the document and
   * the API catalog. A `${var}` is left to checkPrivateVariables, which says why it is refused.
   */
  private serviceLinks(spec: Obj, basePath: string | undefined): { docs?: string; openapi?: string } {
    const out: { docs?: string; openapi?: string } = {};
    for (const field of ['docs', 'openapi'] as const) {
      const value = this.string(spec[field], ['spec', field], false);
      if (value === undefined) continue;
      out[field] = value;
      if (value.includes('${') || basePath === undefined || basePathProblem(basePath) !== undefined) continue;
      const problem = serviceLinkProblem(value, basePath);
      if (problem) this.fail(['spec', field], `${JSON.stringify(value.slice(0, 100))} ${problem}`);
    }
    return out;
  }

  private fail(path: readonly PathSegment[], message: string): void {
    this.ok = false;
    this.problems.add(
      { origin: this.doc.origin, kind: this.kind, name: this.label, path, position: this.doc.locate(path) },
      message,
    );
  }

  private object(value: unknown, path: readonly PathSegment[]): Obj | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Obj;
    const what = path.length === 0 ? 'a document' : path.join('.');
    this.fail(path, value === undefined ? `${what} is required` : `${what} must be a mapping (an object), not ${describe(value)}`);
    return undefined;
  }

  private fields(obj: Obj, path: readonly PathSegment[], allowed: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) this.fail([...path, key], `unknown field ${JSON.stringify(key)}: expected ${allowed.join(', ')}`);
    }
  }

  private string(value: unknown, path: readonly PathSegment[], required: boolean): string | undefined {
    if (value === undefined) {
      if (required) this.fail(path, `${path.join('.')} is required`);
      return undefined;
    }
    if (typeof value === 'string') return value;
    this.fail(path, `must be a string, not ${describe(value)}`);
    return undefined;
  }

  private stringList(value: unknown, path: readonly PathSegment[]): string[] | undefined {
    if (!Array.isArray(value)) {
      this.fail(path, `must be a list of strings, not ${describe(value)}`);
      return undefined;
    }
    const out: string[] = [];
    value.forEach((v, i) => {
      if (typeof v === 'string') out.push(v);
      else this.fail([...path, i], `must be a string, not ${describe(v)}`);
    });
    return out;
  }

  private stringMap(value: unknown, path: readonly PathSegment[], keyProblem?: (key: string) => string | undefined): Record<string, string> | undefined {
    const obj = this.object(value, path);
    if (!obj) return undefined;
    const out = emptyVariables();
    for (const [k, v] of Object.entries(obj)) {
      const problem = keyProblem?.(k);
      if (problem) {
        this.fail([...path, k], problem);
      } else if (typeof v !== 'string') {
        this.fail([...path, k], `must be a string, not ${describe(v)} (quote it)`);
      } else {
        out[k] = v;
      }
    }
    return out;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Rejects a second resource of the same kind and name, and an Environment document that names
 * another environment than the one applied to.
 */
export function checkManifestSet(refs: readonly DocumentRef[], environment: string, problems: Problems): void {
  const seen = new Map<string, DocumentRef>();
  for (const r of refs) {
    const id = resourceId(r.kind, r.name);
    const first = seen.get(id);
    const subject: ProblemSubject = {
      origin: r.origin,
      kind: r.kind,
      name: r.name,
      path: ['metadata', 'name'],
      position: r.locate(['metadata', 'name']),
    };
    if (first) {
      problems.add(subject, `${id} is defined twice: first in ${first.origin.file} document ${first.origin.document}`);
      continue;
    }
    seen.set(id, r);
    if (r.kind === 'Environment' && r.name !== environment) {
      problems.add(
        subject,
        `this Environment document is for ${r.name} but the apply targets environment ${environment}: apply it with --environment ${r.name}, or drop it`,
      );
    }
  }
}

/** A record of the state an apply would leave, and where it came from (for errors). */
export interface Placed<T> {
  value: T;
  /** The manifest that sets it, or undefined for a record already stored and not re-applied. */
  from?: LocatedManifest;
}

/**
 * Checks the whole state an apply would leave (what is stored and kept, plus the rendered
 * manifests): deployments and failover in defined regions, pinned services only in allowed
 * jurisdictions, no two base paths that overlap. Problems name the manifest that causes them.
 */
export function validateTopology(
  regions: ReadonlyMap<string, Placed<RegionDefinition>>,
  services: ReadonlyMap<string, Placed<ServiceDefinition>>,
  problems: Problems,
  /** Regions whose document is too broken to build: already reported, so never "not defined" too. */
  brokenRegions: ReadonlySet<string> = new Set(),
): void {
  const subject = (p: Placed<ServiceDefinition | RegionDefinition>, kind: string, path: PathSegment[]): ProblemSubject => ({
    ...(p.from ? { origin: p.from.origin, position: p.from.locate(path) } : {}),
    kind,
    name: p.value.name,
    path,
  });
  // The caps gateways and clients apply too: what passes here is served and accepted everywhere.
  for (const problem of topologySizeProblems({ regions: regions.size, services: services.size })) {
    problems.add({}, `the environment would have ${problem} (TOPOLOGY_LIMITS): remove resources, or split it into environments`);
  }

  for (const placed of services.values()) {
    const s = placed.value;
    const deployed = new Set(s.deployments.map((d) => d.region));
    s.deployments.forEach((d, i) => {
      const region = regions.get(d.region);
      if (!region) {
        if (placed.from && !brokenRegions.has(d.region)) {
          problems.add(
            subject(placed, 'Service', ['spec', 'deployments', i, 'region']),
            `region ${d.region} is not defined in this environment: add a Region document for it, or fix the name`,
          );
        }
        return;
      }
      if (s.placement === 'pinned' && !s.jurisdictions?.includes(region.value.jurisdiction)) {
        // Blame whichever document is being applied: the service, or the region that moved.
        const blame = placed.from ? subject(placed, 'Service', ['spec', 'deployments', i, 'region']) : subject(region, 'Region', ['spec', 'jurisdiction']);
        if (placed.from || region.from) {
          problems.add(
            blame,
            `pinned service ${s.name} may only run in ${s.jurisdictions?.join(', ')}, but region ${d.region} is in jurisdiction ${region.value.jurisdiction}`,
          );
        }
      }
    });
    if (!placed.from) continue;
    s.failover?.forEach((r, i) => {
      const path: PathSegment[] = ['spec', 'failover', i];
      const region = regions.get(r);
      if (!region) {
        if (!brokenRegions.has(r)) problems.add(subject(placed, 'Service', path), `failover region ${r} is not defined in this environment`);
      }
      else if (s.placement !== 'global' && !deployed.has(r)) {
        problems.add(subject(placed, 'Service', path), `failover region ${r} has no deployment of ${s.name}: add one, or remove it from failover`);
      } else if (s.placement === 'pinned' && !s.jurisdictions?.includes(region.value.jurisdiction)) {
        problems.add(subject(placed, 'Service', path), `failover region ${r} is in jurisdiction ${region.value.jurisdiction}, outside ${s.jurisdictions?.join(', ')}`);
      }
    });
    const basePath = basePathProblem(s.basePath);
    if (basePath) problems.add(subject(placed, 'Service', ['spec', 'basePath']), basePath);
    s.deployments.forEach((d, i) =>
      d.upstreams.forEach((u, j) => {
        const problem = upstreamProblem(u);
        if (problem) problems.add(subject(placed, 'Service', ['spec', 'deployments', i, 'upstreams', j]), problem);
      }),
    );
  }
  checkOverlaps(services, problems, subject);
}

function upstreamProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not an absolute URL: use http://host:port or https://host`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `${JSON.stringify(url)} is not an http(s) URL (${parsed.protocol}): use http:// or https://`;
  }
  if (!parsed.hostname) return `${JSON.stringify(url)} has no host`;
  // WHATWG URLs accept hosts such as `${up` (an unresolved or unterminated variable): no gateway could reach them.
  if (!UPSTREAM_HOST.test(parsed.hostname)) {
    return `${JSON.stringify(url)} has host ${JSON.stringify(parsed.hostname)}, which is not a DNS name or IP address (an unresolved \${variable}?)`;
  }
  return undefined;
}

/** A DNS name (underscores allowed, as in container names), an IPv4 address, or a bracketed IPv6 literal. */
const UPSTREAM_HOST = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\])$/;

/**
 * Two services overlap when one base path is a segment-wise prefix of the other (/a and /a/b),
 * or they are equal: a gateway could not tell which gets a request. Checked in O(n · depth).
 */
function checkOverlaps(
  services: ReadonlyMap<string, Placed<ServiceDefinition>>,
  problems: Problems,
  subject: (p: Placed<ServiceDefinition>, kind: string, path: PathSegment[]) => ProblemSubject,
): void {
  const byPath = new Map<string, Placed<ServiceDefinition>>();
  const normalized = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
  const sorted = [...services.values()].sort((a, b) => normalized(a.value.basePath).length - normalized(b.value.basePath).length);
  for (const placed of sorted) {
    const path = normalized(placed.value.basePath);
    let other = byPath.get(path) ?? byPath.get('/');
    for (let i = path.indexOf('/', 1); !other && i > 0; i = path.indexOf('/', i + 1)) other = byPath.get(path.slice(0, i));
    if (other) {
      const [blamed, kept] = placed.from || !other.from ? [placed, other] : [other, placed];
      if (blamed.from) {
        problems.add(
          subject(blamed, 'Service', ['spec', 'basePath']),
          `base path ${blamed.value.basePath} overlaps ${kept.value.basePath} of service ${kept.value.name}: base paths must not be equal or nest`,
        );
      }
      continue;
    }
    byPath.set(path, placed);
  }
}
