import {
  addressClass,
  canonicalIp,
  cidrContains,
  ipKey,
  isLoopback,
  parseCidr,
  parseIp,
  type Cidr,
  type IpAddress,
} from './ip-address.js';

/**
 * The upstream rules: which URLs a service may name as upstreams, and which addresses a gateway
 * may connect to. Pure functions and values, shared by the registry (at apply) and the gateway
 * (at connect time, on the resolved address); neither depends on the other through this module.
 *
 * Checks run on the WHATWG-parsed URL, so every spelling of an address is seen as the address it
 * reaches (`http://2852039166/`, `0xa9.0xfe.0xa9.0xfe` and `[::ffff:a9fe:a9fe]` are all
 * 169.254.169.254), plus a look at the raw text for what the parser silently drops (tabs, newlines,
 * backslashes, an empty `?` or `@`).
 */

/** Every rule, by its stable name (the `rule` of a validation detail), with why it exists. */
export const UPSTREAM_RULES = {
  characters: 'spaces, control characters and backslashes are dropped or reinterpreted by URL parsers, so the URL would not say where it goes',
  userinfo: 'credentials in a URL (user:password@) are not sent by the gateway and leak into logs and diffs',
  query: 'a query (?) would be sent with every request of the service',
  fragment: 'a fragment (#) means nothing to a backend',
  'link-local': 'link-local addresses (169.254.0.0/16, fe80::/10) serve cloud metadata, credentials included',
  unspecified: 'unspecified addresses (0.0.0.0/8, ::) reach the services of the connecting host itself',
  'non-unicast': 'multicast, broadcast and reserved addresses are no backend',
  metadata: 'cloud metadata and host agent addresses (fd00:ec2::254, 100.100.100.200, 168.63.129.16)',
  'etcd-endpoint': 'etcd holds every environment, variables included: an upstream there gives anonymous callers read and write access',
  'registry-address': "the registry's admin API is not a backend",
  'gateway-address': 'an upstream that is a gateway sends requests round in a loop',
  policy: "the environment's upstream policy (set by an admin) does not allow this host",
} as const;

export type UpstreamRule = keyof typeof UPSTREAM_RULES;

/** Why an upstream is refused: a rule and what matched it (never a resolved address: callers may show it). */
export interface UpstreamRefusal {
  rule: UpstreamRule;
  detail: string;
}

/**
 * `"http://x" is refused by rule etcd-endpoint: <detail> (<why the rule exists>)`. The URL is
 * shown without credentials, query or fragment: rendered from variables, they may be secrets, and
 * the message ends up in CI logs.
 */
export function describeRefusal(url: string, r: UpstreamRefusal): string {
  return `${JSON.stringify(redactUrl(url))} is refused by rule ${r.rule}: ${r.detail} (${UPSTREAM_RULES[r.rule]})`;
}

/** The URL with `user:password@` as `***@` and everything from `?` or `#` on as `?…` / `#…`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@').replace(/([?#]).*$/s, '$1…');
}

/**
 * Rules on the URL as written. Applies to any URL Waymark stores and later puts in a request or
 * a header (upstreams, gateway registrations). Undefined when the URL is fine or is not an
 * absolute http(s) URL at all (other validation reports that).
 */
export function urlShapeRefusal(raw: string, parsed?: URL): UpstreamRefusal | undefined {
  // WHATWG URL parsing removes tabs and newlines anywhere and reads '\' as '/': refuse them outright.
  if (/[\u0000-\u0020\u007f\\]/.test(raw)) {
    return { rule: 'characters', detail: 'the URL holds a space, a control character or a backslash' };
  }
  let url: URL;
  try {
    url = parsed ?? new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const afterScheme = raw.slice(raw.indexOf(':') + 1).replace(/^\/\//, '');
  const authority = afterScheme.split(/[/?#]/, 1)[0];
  if (url.username || url.password || authority.includes('@')) return { rule: 'userinfo', detail: 'the URL carries a user name or password (@)' };
  if (raw.includes('?')) return { rule: 'query', detail: 'the URL has a query (?)' };
  if (raw.includes('#')) return { rule: 'fragment', detail: 'the URL has a fragment (#)' };
  return undefined;
}

/** The host of an http(s) URL: a name (lowercase, no trailing dot) or an address, and the port. */
export interface UpstreamHost {
  name?: string;
  ip?: IpAddress;
  port: number;
}

export function upstreamHost(url: URL): UpstreamHost {
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const ip = parseIp(url.hostname);
  return ip ? { ip, port } : { name: normalizeName(url.hostname), port };
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** RFC 6761: `localhost` and names under it are the loopback host, whatever DNS says. */
function isLocalhostName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost');
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_PATTERN = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})*$`);

/**
 * An environment's allowlist: host patterns (`api.example.com`, `*.internal.example.com`, which
 * matches names below it at any depth but not itself) and networks (`10.0.0.0/8`, `fd00::/8`, or
 * one address). A name is allowed when a pattern matches it, or else when every address it
 * resolves to lies in a network; an address literal only by a network.
 */
export class UpstreamAllowlist {
  private constructor(
    readonly entries: readonly string[],
    private readonly exact: ReadonlySet<string>,
    private readonly suffixes: readonly string[],
    private readonly networks: readonly Cidr[],
  ) {}

  /** At most this many entries: a policy is a handful of networks and domains. */
  static readonly MAX_ENTRIES = 256;

  /** Validates and compiles the entries; `problems` name each bad one by its index. */
  static parse(entries: readonly unknown[]): { allowlist?: UpstreamAllowlist; problems: Array<{ index: number; message: string }> } {
    const problems: Array<{ index: number; message: string }> = [];
    const exact = new Set<string>();
    const suffixes: string[] = [];
    const networks: Cidr[] = [];
    if (entries.length > UpstreamAllowlist.MAX_ENTRIES) {
      problems.push({ index: UpstreamAllowlist.MAX_ENTRIES, message: `at most ${UpstreamAllowlist.MAX_ENTRIES} entries: use networks and wildcard domains` });
      return { problems };
    }
    entries.forEach((entry, index) => {
      if (typeof entry !== 'string' || entry.length === 0 || entry.length > 253) {
        problems.push({ index, message: 'must be a non-empty string of at most 253 characters' });
        return;
      }
      // Anything with ':' or '/', or made of digits and dots, is meant as a network.
      if (entry.includes(':') || entry.includes('/') || /^[\d.]+$/.test(entry)) {
        const network = parseCidr(entry);
        if (network) networks.push(network);
        else problems.push({ index, message: `${JSON.stringify(entry)} is not a network: use an address or CIDR such as 10.0.0.0/8 or fd00::/8` });
        return;
      }
      const name = normalizeName(entry);
      if (!HOST_PATTERN.test(name)) {
        problems.push({
          index,
          message: `${JSON.stringify(entry)} is not a host pattern: use a DNS name (api.example.com) or one leading wildcard label (*.internal.example.com)`,
        });
        return;
      }
      if (name.startsWith('*.')) suffixes.push(name.slice(1));
      else exact.add(name);
    });
    if (problems.length > 0) return { problems };
    return { allowlist: new UpstreamAllowlist([...entries] as string[], exact, suffixes, networks), problems };
  }

  get hasNetworks(): boolean {
    return this.networks.length > 0;
  }

  allowsName(name: string): boolean {
    const n = normalizeName(name);
    return this.exact.has(n) || this.suffixes.some((s) => n.endsWith(s) && n.length > s.length);
  }

  allowsAddress(ip: IpAddress): boolean {
    return this.networks.some((n) => cidrContains(n, ip));
  }
}

/** What a refused endpoint is: etcd, a registry's admin API, or a gateway (this one included). */
export type EndpointRole = 'etcd' | 'registry' | 'gateway';

const ROLE_RULE: Record<EndpointRole, UpstreamRule> = {
  etcd: 'etcd-endpoint',
  registry: 'registry-address',
  gateway: 'gateway-address',
};

const ROLE_NAME: Record<EndpointRole, string> = {
  etcd: 'an etcd endpoint of this installation',
  registry: "a Waymark registry's admin API",
  gateway: 'a Waymark gateway',
};

/** One address that no upstream may reach: its host as configured, its port, and what DNS said the host is. */
export interface RefusedEndpoint {
  role: EndpointRole;
  /** A name or an address literal (brackets allowed). */
  host: string;
  port: number;
  /** Addresses the name resolved to, when it is a name and was resolved. */
  addresses?: readonly string[];
}

/** `http://h:p/…`, `h:p` or `[v6]:p` as an endpoint (default ports 80/443); undefined when unusable. */
export function endpointOf(role: EndpointRole, text: string): RefusedEndpoint | undefined {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    return undefined;
  }
  if (!url.hostname) return undefined;
  return { role, host: url.hostname, port: upstreamHost(url).port };
}

/**
 * The endpoints no upstream may reach, whatever the policy: etcd's client endpoints, registries'
 * admin APIs and gateways. A host matches by name (as written) and by address (as resolved).
 *
 * An endpoint on this host (a loopback address, `0.0.0.0`, `localhost`, or an address of one of
 * this host's interfaces) is refused on its port at every such local address: etcd bound to
 * 0.0.0.0:2379 answers on 127.0.0.2:2379 and on the host's LAN address as well. Backends on other
 * ports of loopback (the local stack's) stay allowed.
 */
export class RefusedEndpoints {
  private readonly byAddress = new Map<string, EndpointRole>();
  private readonly byName = new Map<string, EndpointRole>();
  private readonly localPorts = new Map<number, EndpointRole>();
  private readonly local: ReadonlySet<string>;

  constructor(
    readonly endpoints: readonly RefusedEndpoint[],
    /** Addresses of this host's interfaces (os.networkInterfaces()). */
    localAddresses: readonly string[] = [],
  ) {
    this.local = new Set(localAddresses.map((a) => parseIp(a)).filter((ip): ip is IpAddress => ip !== undefined).map(ipKey));
    for (const e of endpoints) {
      const literal = parseIp(e.host);
      const addresses = [...(literal ? [literal] : []), ...(e.addresses ?? []).map((a) => parseIp(a)).filter((ip): ip is IpAddress => ip !== undefined)];
      if (!literal) this.byName.set(`${normalizeName(e.host)} ${e.port}`, this.stronger(this.byName.get(`${normalizeName(e.host)} ${e.port}`), e.role));
      for (const ip of addresses) this.byAddress.set(`${ipKey(ip)} ${e.port}`, this.stronger(this.byAddress.get(`${ipKey(ip)} ${e.port}`), e.role));
      if ((!literal && isLocalhostName(normalizeName(e.host))) || addresses.some((ip) => this.isLocal(ip))) {
        this.localPorts.set(e.port, this.stronger(this.localPorts.get(e.port), e.role));
      }
    }
  }

  /** Whether an address is this host: loopback, unspecified, or one of its interfaces. */
  isLocal(ip: IpAddress): boolean {
    return isLoopback(ip) || addressClass(ip) === 'unspecified' || this.local.has(ipKey(ip));
  }

  /** The role of the endpoint a host name (as written in a URL) names, if any. */
  roleOfName(name: string, port: number, ignore?: EndpointRole): EndpointRole | undefined {
    const n = normalizeName(name);
    const role = this.byName.get(`${n} ${port}`) ?? (isLocalhostName(n) ? this.localPorts.get(port) : undefined);
    return role === ignore ? undefined : role;
  }

  /** The role of the endpoint an address and port reach, if any. */
  roleOfAddress(ip: IpAddress, port: number, ignore?: EndpointRole): EndpointRole | undefined {
    const role = this.byAddress.get(`${ipKey(ip)} ${port}`) ?? (this.isLocal(canonicalIp(ip)) ? this.localPorts.get(port) : undefined);
    return role === ignore ? undefined : role;
  }

  /** etcd outranks the others when one address is several things (messages name the worst). */
  private stronger(a: EndpointRole | undefined, b: EndpointRole): EndpointRole {
    const rank: Record<EndpointRole, number> = { etcd: 3, registry: 2, gateway: 1 };
    return a && rank[a] >= rank[b] ? a : b;
  }
}

/**
 * What an upstream is used for. `service`: a backend of a service (every rule). `dispatch`: a
 * gateway forwarding to another gateway of its environment, which is the point, so gateway
 * addresses and the allowlist do not apply; everything else does.
 */
export type UpstreamUse = 'service' | 'dispatch';

/** The rules in force for one environment. */
export interface UpstreamRuleSet {
  /** Undefined when the environment has no policy: any host not always refused. */
  allowlist?: UpstreamAllowlist;
  refused: RefusedEndpoints;
}

/**
 * Everything decidable before DNS: the URL's shape, and for an address literal every rule. For a
 * name, `needsAddresses` says the resolved addresses must still pass `checkAddress`.
 */
export function checkUpstreamUrl(raw: string, rules: UpstreamRuleSet, use: UpstreamUse = 'service'): { refusal?: UpstreamRefusal; host?: UpstreamHost } {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  const shape = urlShapeRefusal(raw, url);
  if (shape) return { refusal: shape };
  if (!url) return {};
  const host = upstreamHost(url);
  const refusal = checkHost(host, rules, use);
  return refusal ? { refusal, host } : { host };
}

/** The name-level rules for a host (and every rule for an address literal). */
export function checkHost(host: UpstreamHost, rules: UpstreamRuleSet, use: UpstreamUse = 'service'): UpstreamRefusal | undefined {
  if (host.ip) return checkAddress(host, host.ip, rules, use);
  const name = host.name ?? '';
  const ignore = use === 'dispatch' ? 'gateway' : undefined;
  const role = rules.refused.roleOfName(name, host.port, ignore);
  if (role) return { rule: ROLE_RULE[role], detail: `${name}:${host.port} is ${ROLE_NAME[role]}` };
  if (use === 'service' && rules.allowlist && !rules.allowlist.allowsName(name) && !rules.allowlist.hasNetworks) {
    return { rule: 'policy', detail: `${name} matches no host pattern of the policy (${rules.allowlist.entries.join(', ') || 'nothing is allowed'})` };
  }
  return undefined;
}

/** The rules for one address a host resolved to (or is). */
export function checkAddress(host: UpstreamHost, ip: IpAddress, rules: UpstreamRuleSet, use: UpstreamUse = 'service'): UpstreamRefusal | undefined {
  const what = host.name ? `${host.name} resolves to an address that` : 'the address';
  const cls = addressClass(ip);
  if (cls) return { rule: cls, detail: `${what} is ${cls === 'metadata' ? 'a metadata service' : cls}` };
  const role = rules.refused.roleOfAddress(ip, host.port, use === 'dispatch' ? 'gateway' : undefined);
  if (role) return { rule: ROLE_RULE[role], detail: `${what} with port ${host.port} is ${ROLE_NAME[role]}` };
  const allow = rules.allowlist;
  if (use === 'service' && allow && !(host.name && allow.allowsName(host.name)) && !allow.allowsAddress(ip)) {
    return { rule: 'policy', detail: `${what} is in no network or host pattern of the policy (${allow.entries.join(', ') || 'nothing is allowed'})` };
  }
  return undefined;
}
