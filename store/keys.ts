import { assertName, isValidName } from '../topology/index.js';

/** Default root of every key Waymark writes. */
export const DEFAULT_KEY_PREFIX = '/waymark/v1';

/**
 * Where each record lives in etcd. Every name is validated as a DNS label before it becomes part
 * of a key, so no input can reach outside its environment's prefix.
 *
 * ```
 * <prefix>/<env>/variables                Environment spec (variables); never public, never read by gateways
 * <prefix>/<env>/regions/<region>         RegionDefinition
 * <prefix>/<env>/services/<service>       ServiceDefinition (upstreams resolved)
 * <prefix>/<env>/gateways/<region>/<id>   GatewayRegistration, under the gateway's lease
 * <prefix>/<env>/source/<nnnnnn>         applied manifests (before substitution), in chunks
 * <prefix>/<env>/commit                   CommitRecord of the last apply
 * <prefix>/<env>/pending                  marker of a multi-transaction apply in progress
 * <prefix>/<env>/signed                   the signed topology (compact JWS), written with each apply
 * <prefix>/<env>/keys                     the environment's public signing keys (SigningKeys)
 * <prefix>/_status/<env>/<region>/<id>    GatewayReport, under the gateway's lease
 * <prefix>/_audit/<env>/records/<nnnnnnnnnnnn>  AuditRecord of an apply, promotion or rollback (immutable)
 * <prefix>/_audit/<env>/sources/<sha256>/<nnnnnn>  the applied source an audit record names, in chunks
 * <prefix>/_policy/upstreams/<env>        an environment's upstream policy (admins only)
 * <prefix>/_policy/registries/<id>        a registry's admin address, under its lease
 * ```
 * Everything a gateway reads of its environment is the range `[<env>/, <env>/source/)` (see
 * topologyRange); `source/` and `variables` sort after it, so an etcd role can grant gateways
 * that one range and nothing secret (up to 0.1 the variables were at `<env>/environment`, inside
 * it: `legacyEnvironmentSpec`, moved by the next apply).
 * `_status` cannot collide with an environment (names never start with '_') and sits outside
 * every environment's prefix, so a gateway's report never wakes the gateways that watch it.
 * `_audit` is outside it too: gateways never read it, and its growth never reaches their reads.
 */
export class KeyLayout {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_KEY_PREFIX) {
    if (!prefix.startsWith('/') || prefix.endsWith('/')) {
      throw new TypeError(`key prefix ${JSON.stringify(prefix)} must start with '/' and not end with '/'`);
    }
    this.prefix = prefix;
  }

  /** Prefix of everything that belongs to an environment (what a gateway watches). */
  environment(env: string): string {
    assertName('environment', env);
    return `${this.prefix}/${env}/`;
  }

  environmentSpec(env: string): string {
    return `${this.environment(env)}variables`;
  }

  /** Where the variables were before they moved out of the gateways' range; read once, deleted by the next apply. */
  legacyEnvironmentSpec(env: string): string {
    return `${this.environment(env)}environment`;
  }

  regions(env: string): string {
    return `${this.environment(env)}regions/`;
  }

  region(env: string, name: string): string {
    assertName('region', name);
    return `${this.regions(env)}${name}`;
  }

  services(env: string): string {
    return `${this.environment(env)}services/`;
  }

  service(env: string, name: string): string {
    assertName('service', name);
    return `${this.services(env)}${name}`;
  }

  gateways(env: string): string {
    return `${this.environment(env)}gateways/`;
  }

  gateway(env: string, region: string, id: string): string {
    assertName('region', region);
    assertName('gateway id', id);
    return `${this.gateways(env)}${region}/${id}`;
  }

  sources(env: string): string {
    return `${this.environment(env)}source/`;
  }

  source(env: string, index: number): string {
    return `${this.sources(env)}${String(index).padStart(6, '0')}`;
  }

  commit(env: string): string {
    return `${this.environment(env)}commit`;
  }

  pending(env: string): string {
    return `${this.environment(env)}pending`;
  }

  signed(env: string): string {
    return `${this.environment(env)}signed`;
  }

  signingKeys(env: string): string {
    return `${this.environment(env)}keys`;
  }

  /** Prefix of all gateway reports of an environment. */
  reports(env: string): string {
    assertName('environment', env);
    return `${this.prefix}/_status/${env}/`;
  }

  report(env: string, region: string, id: string): string {
    assertName('region', region);
    assertName('gateway id', id);
    return `${this.reports(env)}${region}/${id}`;
  }

  /** Prefix of an environment's audit trail (records and the sources they name). */
  audit(env: string): string {
    assertName('environment', env);
    return `${this.prefix}/_audit/${env}/`;
  }

  auditRecords(env: string): string {
    return `${this.audit(env)}records/`;
  }

  /** Zero-padded, so key order is sequence order. */
  auditRecord(env: string, seq: number): string {
    if (!Number.isSafeInteger(seq) || seq < 1) throw new TypeError(`audit record id ${seq} must be a positive integer`);
    return `${this.auditRecords(env)}${String(seq).padStart(12, '0')}`;
  }

  auditSources(env: string): string {
    return `${this.audit(env)}sources/`;
  }

  /** Chunks of the source whose SHA-256 (hex) is `hash`. */
  auditSource(env: string, hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new TypeError(`source hash ${JSON.stringify(hash)} is not a hex SHA-256`);
    return `${this.auditSources(env)}${hash}/`;
  }

  /** Everything gateways need to guard their upstreams besides their environment (a small range they watch). */
  policies(): string {
    return `${this.prefix}/_policy/`;
  }

  /** Outside the environment's prefix: applies never touch it, and changing it wakes no topology watch. */
  upstreamPolicy(env: string): string {
    assertName('environment', env);
    return `${this.policies()}upstreams/${env}`;
  }

  /** Prefix of every registry's announced admin address. */
  registryAddresses(): string {
    return `${this.policies()}registries/`;
  }

  registryAddress(id: string): string {
    assertName('registry id', id);
    return `${this.registryAddresses()}${id}`;
  }

  /** Environments are the first path segment under the prefix that is a valid name. */
  environmentOf(key: string): string | undefined {
    if (!key.startsWith(`${this.prefix}/`)) return undefined;
    const env = key.slice(this.prefix.length + 1).split('/', 1)[0];
    return isValidName(env) ? env : undefined;
  }

  /** Classifies a key below `environment(env)`; undefined for keys Waymark does not know. */
  parse(env: string, key: string): ParsedKey | undefined {
    const base = this.environment(env);
    if (!key.startsWith(base)) return undefined;
    const parts = key.slice(base.length).split('/');
    switch (parts[0]) {
      case 'regions':
        return parts.length === 2 && isValidName(parts[1]) ? { kind: 'region', name: parts[1] } : undefined;
      case 'services':
        return parts.length === 2 && isValidName(parts[1]) ? { kind: 'service', name: parts[1] } : undefined;
      case 'gateways':
        return parts.length === 3 && isValidName(parts[1]) && isValidName(parts[2])
          ? { kind: 'gateway', region: parts[1], name: parts[2] }
          : undefined;
      case 'variables':
      case 'environment':
      case 'commit':
      case 'pending':
      case 'signed':
      case 'keys':
        return parts.length === 1 ? { kind: parts[0] } : undefined;
      case 'source':
        return parts.length === 2 ? { kind: 'source', name: parts[1] } : undefined;
      default:
        return undefined;
    }
  }
}

export type ParsedKey =
  | { kind: 'region' | 'service' | 'source'; name: string }
  | { kind: 'gateway'; region: string; name: string }
  | { kind: 'variables' | 'environment' | 'commit' | 'pending' | 'signed' | 'keys' };
