import type {
  CommitRecord,
  GatewayRegistration,
  InternalTopology,
  RegionDefinition,
  ServiceDefinition,
} from '../openapi/index.js';
import { gatewayAllowed, parseSignedStatement, type SignedStatement } from '../topology/index.js';

/**
 * One environment's topology at one revision: the records from etcd (upstreams included).
 * Immutable: a change produces a new snapshot, so a document built from one never moves.
 */
export class TopologySnapshot {
  constructor(
    readonly environment: string,
    /** The environment's revision (store/revision.ts): the last change to the records below. */
    readonly revision: number,
    readonly regions: ReadonlyMap<string, RegionDefinition>,
    readonly services: ReadonlyMap<string, ServiceDefinition>,
    /** Keyed by `<region>/<id>`. */
    readonly gateways: ReadonlyMap<string, GatewayRegistration>,
    readonly commit?: CommitRecord,
    /** The environment's signed topology, when it has a signing key (decoded, not verified). */
    readonly signed?: SignedStatement,
  ) {}

  static empty(environment: string, revision = 0): TopologySnapshot {
    return new TopologySnapshot(environment, revision, new Map(), new Map(), new Map());
  }

  /** The same content at a newer revision (content is unchanged, so nothing else moves). */
  atRevision(revision: number): TopologySnapshot {
    if (revision <= this.revision) return this;
    return new TopologySnapshot(this.environment, revision, this.regions, this.services, this.gateways, this.commit, this.signed);
  }

  /** True when both hold the same records (revision aside). */
  sameContent(other: TopologySnapshot): boolean {
    return (
      this.environment === other.environment &&
      sameRecords(this.regions, other.regions) &&
      sameRecords(this.services, other.services) &&
      sameRecords(this.gateways, other.gateways) &&
      this.signed?.jws === other.signed?.jws &&
      // The commit counts: every apply moves the revision, even one changing only variables.
      JSON.stringify(this.commit) === JSON.stringify(other.commit)
    );
  }

  /**
   * The gateways of a region that may be published: in a signed environment only those whose URL
   * matches the region's signed allow-list (a registration outside it is refused, never served).
   */
  gatewaysIn(region: string): GatewayRegistration[] {
    const out: GatewayRegistration[] = [];
    for (const g of this.gateways.values()) if (g.region === region && this.admits(g)) out.push(g);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** False for a registration outside its region's signed allow-list. */
  admits(g: GatewayRegistration): boolean {
    return this.signed === undefined || gatewayAllowed(this.signed.payload, g.region, g.url);
  }

  /** Regions whose gateways serve the service: every region for `global`, else its deployments. */
  servingRegions(service: ServiceDefinition): string[] {
    if (service.placement === 'global') return sortedKeys(this.regions);
    const names = new Set<string>();
    for (const d of service.deployments) if (this.regions.has(d.region)) names.add(d.region);
    return [...names].sort();
  }

  /** The internal view (upstreams included): the admin API's shape and the gateway's snapshot file. */
  toInternal(): InternalTopology {
    const out: InternalTopology = {
      environment: this.environment,
      revision: this.revision,
      regions: sortedKeys(this.regions).map((k) => this.regions.get(k)!),
      services: sortedKeys(this.services).map((k) => this.services.get(k)!),
      gateways: sortedKeys(this.gateways).map((k) => this.gateways.get(k)!),
    };
    if (this.commit) out.lastCommit = this.commit;
    if (this.signed) {
      out.signed = this.signed.jws;
      out.statement = this.signed.payload;
    }
    return out;
  }

  static fromInternal(data: InternalTopology): TopologySnapshot {
    return new TopologySnapshot(
      data.environment,
      data.revision,
      new Map(data.regions.map((r) => [r.name, r])),
      new Map(data.services.map((s) => [s.name, s])),
      new Map(data.gateways.map((g) => [gatewayKey(g.region, g.id), g])),
      data.lastCommit,
      signedOf(data.signed),
    );
  }
}

/** A stored statement, decoded; undefined when absent or unusable (a reader quarantines it first). */
function signedOf(jws: string | undefined): SignedStatement | undefined {
  if (jws === undefined) return undefined;
  const parsed = parseSignedStatement(jws);
  return parsed.ok ? parsed.value : undefined;
}

export function gatewayKey(region: string, id: string): string {
  return `${region}/${id}`;
}

function sortedKeys(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort();
}

function sameRecords<T>(a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || (w !== v && JSON.stringify(w) !== JSON.stringify(v))) return false;
  }
  return true;
}
