import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses as bytes, their classes and CIDR ranges: the arithmetic under the upstream rules.
 * Pure (no I/O). Inputs are WHATWG-canonical URL hosts (`169.254.169.254`, `[::ffff:a9fe:a9fe]`),
 * socket addresses (`::ffff:127.0.0.1`, `fe80::1%eth0`) or policy entries.
 */

/** An IP address: 4 bytes for IPv4, 16 for IPv6. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** Parses an IP literal (brackets and an IPv6 zone allowed); undefined for anything else, names included. */
export function parseIp(text: string): IpAddress | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone > 0) s = s.slice(0, zone);
  if (isIPv4(s)) return { family: 4, bytes: Uint8Array.from(s.split('.').map(Number)) };
  if (!isIPv6(s)) return undefined;
  const bytes = new Uint8Array(16);
  // An IPv4 tail (::ffff:1.2.3.4) is two groups.
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail = s.slice(lastColon + 1).split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return { family: 6, bytes };
}

/** Text form, for messages and keys: dotted IPv4, or IPv6 as eight hex groups. */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return Array.from(ip.bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((ip.bytes[i] << 8) | ip.bytes[i + 1]).toString(16));
  return groups.join(':');
}

function hasPrefix(ip: IpAddress, prefix: readonly number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if ((ip.bytes[byte] & mask) !== ((prefix[byte] ?? 0) & mask)) return false;
  }
  return true;
}

const V4_MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const NAT64 = [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];
const SIX_TO_FOUR = [0x20, 0x02];

/**
 * The IPv4 address an IPv6 address carries and reaches: IPv4-mapped (`::ffff:a.b.c.d`, which a
 * dual-stack socket connects to a.b.c.d), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and
 * 6to4 (`2002:AABB:CCDD::/48`). Undefined for other addresses.
 */
export function embeddedIpv4(ip: IpAddress): IpAddress | undefined {
  if (ip.family !== 6) return undefined;
  const b = ip.bytes;
  if (hasPrefix(ip, V4_MAPPED, 96) || hasPrefix(ip, NAT64, 96)) return { family: 4, bytes: b.slice(12, 16) };
  if (hasPrefix(ip, [], 96)) {
    // ::a.b.c.d, but not :: and ::1 (whose last bytes read 0.0.0.0 and 0.0.0.1).
    const v4 = b.slice(12, 16);
    const special = v4[0] === 0 && v4[1] === 0 && v4[2] === 0 && v4[3] <= 1;
    return special ? undefined : { family: 4, bytes: v4 };
  }
  if (hasPrefix(ip, SIX_TO_FOUR, 16)) return { family: 4, bytes: b.slice(2, 6) };
  return undefined;
}

/** The form used to compare addresses: an IPv4-mapped IPv6 address is its IPv4 address. */
export function canonicalIp(ip: IpAddress): IpAddress {
  return ip.family === 6 && hasPrefix(ip, V4_MAPPED, 96) ? { family: 4, bytes: ip.bytes.slice(12, 16) } : ip;
}

/** A stable key for maps and sets (canonical form). */
export function ipKey(ip: IpAddress): string {
  return formatIp(canonicalIp(ip));
}

/**
 * Classes of addresses no upstream may have, whatever the policy:
 * - `unspecified`: 0.0.0.0/8 and `::` (a connect to 0.0.0.0 reaches this host's own services);
 * - `link-local`: 169.254.0.0/16 and fe80::/10 (cloud metadata services live at 169.254.169.254);
 * - `non-unicast`: multicast (224.0.0.0/4, ff00::/8), and 240.0.0.0/4 with the broadcast address;
 * - `metadata`: cloud metadata and host agents outside link-local (AWS fd00:ec2::254, Alibaba
 *   100.100.100.200, Azure's wire server 168.63.129.16).
 */
export type AddressClass = 'unspecified' | 'link-local' | 'non-unicast' | 'metadata';

const METADATA = new Set(['100.100.100.200', '168.63.129.16', 'fd00:ec2:0:0:0:0:0:254']);

/** The refused class of an address, or of the IPv4 address it embeds; undefined when it has none. */
export function addressClass(ip: IpAddress): AddressClass | undefined {
  const own = directClass(ip);
  if (own) return own;
  const v4 = embeddedIpv4(ip);
  return v4 ? directClass(v4) : undefined;
}

function directClass(ip: IpAddress): AddressClass | undefined {
  if (METADATA.has(formatIp(ip))) return 'metadata';
  if (ip.family === 4) {
    const first = ip.bytes[0];
    if (first === 0) return 'unspecified';
    if (first === 169 && ip.bytes[1] === 254) return 'link-local';
    if (first >= 224) return 'non-unicast';
    return undefined;
  }
  if (ip.bytes.every((b) => b === 0)) return 'unspecified';
  if (ip.bytes[0] === 0xfe && (ip.bytes[1] & 0xc0) === 0x80) return 'link-local';
  if (ip.bytes[0] === 0xff) return 'non-unicast';
  return undefined;
}

/** 127.0.0.0/8 and ::1 (also as IPv4-mapped). */
export function isLoopback(ip: IpAddress): boolean {
  const c = canonicalIp(ip);
  if (c.family === 4) return c.bytes[0] === 127;
  return c.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}

/** A network: an address and how many leading bits are fixed. */
export interface Cidr {
  readonly ip: IpAddress;
  readonly prefix: number;
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (`10.1.2.3`, all bits fixed); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  if (addr.startsWith('[')) return undefined;
  const ip = parseIp(addr);
  if (!ip || addr.includes('%')) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  if (slash === -1) return { ip, prefix: max };
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return { ip, prefix: Number(bits) };
}

/** Whether `ip` lies in `cidr`; an IPv4-mapped address counts as its IPv4 address. */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  const net = canonicalIp(cidr.ip);
  const addr = canonicalIp(ip);
  if (net.family !== addr.family) return false;
  // A range written as ::ffff:10.0.0.0/104 is the IPv4 range 10.0.0.0/8.
  const prefix = net.family === 4 && cidr.ip.family === 6 ? Math.max(0, cidr.prefix - 96) : cidr.prefix;
  return hasPrefix(addr, Array.from(net.bytes), prefix);
}
