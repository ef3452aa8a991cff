import type { CommitRecord, GatewayRegistration, RegionDefinition, ServiceDefinition } from '../openapi/index.js';
import { isValidGatewayUrl } from '../topology/index.js';
import type { KeyLayout } from './keys.js';
import { TopologySnapshot, gatewayKey } from './snapshot.js';

/** A key whose value Waymark could not use (hand-edited with etcdctl, say). It is skipped. */
export interface InvalidRecord {
  key: string;
  reason: string;
}

/**
 * The mutable working copy of an environment's records, fed with keys and values as etcd
 * returns them (a range read or watch events) and frozen into immutable snapshots.
 */
export class TopologyRecords {
  regions = new Map<string, RegionDefinition>();
  services = new Map<string, ServiceDefinition>();
  gateways = new Map<string, GatewayRegistration>();
  commit: CommitRecord | undefined;

  constructor(
    readonly layout: KeyLayout,
    readonly environment: string,
    private readonly onInvalid: (record: InvalidRecord) => void = () => undefined,
  ) {}

  static from(snapshot: TopologySnapshot, layout: KeyLayout, onInvalid?: (r: InvalidRecord) => void): TopologyRecords {
    const r = new TopologyRecords(layout, snapshot.environment, onInvalid);
    r.regions = new Map(snapshot.regions);
    r.services = new Map(snapshot.services);
    r.gateways = new Map(snapshot.gateways);
    r.commit = snapshot.commit;
    return r;
  }

  /** Applies a put (value) or delete (null). Returns the kind of record touched, if any. */
  apply(key: string, value: string | null): 'region' | 'service' | 'gateway' | 'commit' | undefined {
    const parsed = this.layout.parse(this.environment, key);
    if (!parsed) return undefined;
    switch (parsed.kind) {
      case 'region':
        return this.set(this.regions, parsed.name, key, value, (v) => isNamed(v, parsed.name) && typeof v.jurisdiction === 'string')
          ? 'region'
          : undefined;
      case 'service':
        return this.set(
          this.services,
          parsed.name,
          key,
          value,
          (v) => isNamed(v, parsed.name) && typeof v.basePath === 'string' && Array.isArray(v.deployments),
        )
          ? 'service'
          : undefined;
      case 'gateway':
        return this.set(
          this.gateways,
          gatewayKey(parsed.region, parsed.name),
          key,
          value,
          (v) => v.id === parsed.name && v.region === parsed.region && isValidGatewayUrl(v.url),
        )
          ? 'gateway'
          : undefined;
      case 'commit': {
        const v = value === null ? undefined : this.parse(key, value);
        this.commit = v as CommitRecord | undefined;
        return 'commit';
      }
      default:
        return undefined;
    }
  }

  freeze(revision: number): TopologySnapshot {
    return new TopologySnapshot(
      this.environment,
      revision,
      new Map(this.regions),
      new Map(this.services),
      new Map(this.gateways),
      this.commit,
    );
  }

  private set<T>(
    map: Map<string, T>,
    id: string,
    key: string,
    value: string | null,
    valid: (v: Record<string, unknown>) => boolean,
  ): boolean {
    if (value === null) return map.delete(id);
    const v = this.parse(key, value);
    if (!v) return map.delete(id);
    if (!valid(v)) {
      this.onInvalid({ key, reason: 'the value does not match its key or lacks required fields' });
      return map.delete(id);
    }
    map.set(id, v as T);
    return true;
  }

  private parse(key: string, value: string): Record<string, unknown> | undefined {
    try {
      const v: unknown = JSON.parse(value);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
      this.onInvalid({ key, reason: 'the value is not a JSON object' });
    } catch (err) {
      this.onInvalid({ key, reason: `the value is not JSON: ${(err as Error).message}` });
    }
    return undefined;
  }
}

function isNamed(v: Record<string, unknown>, name: string): boolean {
  return v.name === name;
}
