import type { CommitRecord, GatewayRegistration, RegionDefinition, ServiceDefinition } from '../openapi/index.js';
import { parseRecord, parseSignedStatement, summarize, type Checked, type KeyNames, type SignedStatement } from '../topology/index.js';
import type { KeyLayout } from './keys.js';
import { TopologySnapshot, gatewayKey } from './snapshot.js';

/** A key whose value Waymark could not use (hand-edited with etcdctl, say). It is skipped. */
export interface InvalidRecord {
  key: string;
  /** The first problems, as `path: what` (see topology/problems.ts). */
  reason: string;
}

export type RecordTouched = 'region' | 'service' | 'gateway' | 'commit' | 'signed';

/**
 * The mutable working copy of an environment's records, fed with keys and values as etcd
 * returns them (a range read or watch events) and frozen into immutable snapshots.
 *
 * Every value passes the core validator of its kind (topology/records.ts) before it is used. An
 * invalid value is quarantined: the key's last valid version stays (or the key stays absent),
 * and the key is listed in `invalid` until a valid value or a delete replaces it. One bad
 * record written by hand can therefore never reach a document, a route table or a view.
 */
export class TopologyRecords {
  regions = new Map<string, RegionDefinition>();
  services = new Map<string, ServiceDefinition>();
  gateways = new Map<string, GatewayRegistration>();
  commit: CommitRecord | undefined;
  signed: SignedStatement | undefined;
  /** Keys skipped as invalid now, by key. */
  readonly invalid = new Map<string, InvalidRecord>();

  constructor(
    readonly layout: KeyLayout,
    readonly environment: string,
    private readonly onInvalid: (record: InvalidRecord) => void = () => undefined,
  ) {}

  /** A working copy of a snapshot: its records are the last valid versions for what is read next. */
  static from(
    snapshot: TopologySnapshot,
    layout: KeyLayout,
    onInvalid?: (r: InvalidRecord) => void,
    invalid: Iterable<InvalidRecord> = [],
  ): TopologyRecords {
    const r = new TopologyRecords(layout, snapshot.environment, onInvalid);
    for (const record of invalid) r.invalid.set(record.key, record);
    r.regions = new Map(snapshot.regions);
    r.services = new Map(snapshot.services);
    r.gateways = new Map(snapshot.gateways);
    r.commit = snapshot.commit;
    r.signed = snapshot.signed;
    return r;
  }

  /**
   * Replaces the content with a full read: applies every pair, then drops the records whose key
   * was not read. A key read with an invalid value keeps the version held before (if any).
   */
  load(pairs: Iterable<readonly [key: string, value: string]>): void {
    const seen = new Set<string>();
    this.invalid.clear();
    for (const [key, value] of pairs) {
      seen.add(key);
      this.apply(key, value);
    }
    const env = this.environment;
    for (const name of [...this.regions.keys()]) if (!seen.has(this.layout.region(env, name))) this.regions.delete(name);
    for (const name of [...this.services.keys()]) if (!seen.has(this.layout.service(env, name))) this.services.delete(name);
    for (const [id, g] of [...this.gateways]) if (!seen.has(this.layout.gateway(env, g.region, g.id))) this.gateways.delete(id);
    if (!seen.has(this.layout.commit(env))) this.commit = undefined;
    if (!seen.has(this.layout.signed(env))) this.signed = undefined;
  }

  /** Applies a put (value) or delete (null). Returns the kind of record whose content changed, if any. */
  apply(key: string, value: string | null): RecordTouched | undefined {
    const parsed = this.layout.parse(this.environment, key);
    if (!parsed) return undefined;
    switch (parsed.kind) {
      case 'region':
        return this.set(this.regions, parsed.name, key, value, (text) => parseRecord('region', text, { name: parsed.name })) ? 'region' : undefined;
      case 'service':
        return this.set(this.services, parsed.name, key, value, (text) => parseRecord('service', text, { name: parsed.name })) ? 'service' : undefined;
      case 'gateway': {
        const names: KeyNames = { name: parsed.name, region: parsed.region };
        return this.set(this.gateways, gatewayKey(parsed.region, parsed.name), key, value, (text) => parseRecord('gateway', text, names))
          ? 'gateway'
          : undefined;
      }
      case 'commit': {
        if (value === null) {
          this.invalid.delete(key);
          this.commit = undefined;
          return 'commit';
        }
        const checked = parseRecord('commit', value);
        if (!checked.ok) {
          this.quarantine(key, checked.problems);
          return undefined;
        }
        this.invalid.delete(key);
        this.commit = checked.value;
        return 'commit';
      }
      case 'signed': {
        if (value === null) {
          this.invalid.delete(key);
          this.signed = undefined;
          return 'signed';
        }
        // Decoded and checked like any record (its signature is the clients' business).
        const parsed = parseSignedStatement(value);
        if (!parsed.ok || parsed.value.payload.environment !== this.environment) {
          this.quarantine(key, parsed.ok ? [`signed: the statement is of environment "${parsed.value.payload.environment}"`] : parsed.problems);
          return undefined;
        }
        this.invalid.delete(key);
        this.signed = parsed.value;
        return 'signed';
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
      this.signed,
    );
  }

  /** The keys skipped now, sorted by key. */
  invalidRecords(): InvalidRecord[] {
    return [...this.invalid.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private set<T>(map: Map<string, T>, id: string, key: string, value: string | null, check: (text: string) => Checked<T>): boolean {
    if (value === null) {
      this.invalid.delete(key);
      return map.delete(id);
    }
    const checked = check(value);
    if (!checked.ok) {
      this.quarantine(key, checked.problems);
      return false;
    }
    this.invalid.delete(key);
    map.set(id, checked.value);
    return true;
  }

  private quarantine(key: string, problems: readonly string[]): void {
    const record: InvalidRecord = { key, reason: summarize(problems) };
    this.invalid.set(key, record);
    this.onInvalid(record);
  }
}
