/**
 * The signed topology: what the registry signs at apply time (the applied regions and services,
 * public parts only, each region's gateway URL allow-list, a strictly increasing revision), its
 * compact JWS serialization (RFC 7515 §7.1, `alg: EdDSA` of RFC 8037), and the rule a document
 * must follow to be covered by it. Signing and verifying are done by callers (node:crypto in the
 * registry, WebCrypto in the SDK): this module only builds, encodes, decodes and compares.
 */
import type { RegionDefinition, ServiceDefinition, SignedTopology, TopologyDocument } from './types.js';
import { array, basePath, count, dateTime, isObject, jurisdiction, label, name, object, oneOf, required, text } from './fields.js';
import { gatewayUrlAllowed, gatewayUrlPatternProblem } from './gateway-pattern.js';
import { at, ProblemList } from './problems.js';
import { PLACEMENTS } from './records.js';

export const SIGNED_TOPOLOGY_TYPE = 'waymark-topology+jws';
export const SIGNATURE_ALGORITHM = 'EdDSA';

/** The protected header of a signed topology. */
export interface SignedHeader {
  alg: typeof SIGNATURE_ALGORITHM;
  kid: string;
  typ: typeof SIGNED_TOPOLOGY_TYPE;
}

/** A decoded compact JWS: what to verify (`signingInput` with `signature`) and what it says. */
export interface SignedStatement {
  jws: string;
  header: SignedHeader;
  payload: SignedTopology;
  /** `BASE64URL(header) '.' BASE64URL(payload)`, the bytes the signature covers (ASCII). */
  signingInput: string;
  signature: Uint8Array;
}

/** The statement of an environment's regions and services, sorted by name; public parts only. */
export function signedTopologyOf(
  environment: string,
  revision: number,
  issuedAt: Date,
  regions: Iterable<RegionDefinition>,
  services: Iterable<ServiceDefinition>,
): SignedTopology {
  const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const regionList = [...regions].sort(byName);
  const regionNames = new Set(regionList.map((r) => r.name));
  return {
    environment,
    revision,
    issuedAt: issuedAt.toISOString(),
    regions: regionList.map((r) => ({
      name: r.name,
      jurisdiction: r.jurisdiction,
      ...(r.provider !== undefined ? { provider: r.provider } : {}),
      ...(r.location !== undefined ? { location: r.location } : {}),
      gatewayUrls: [...(r.gatewayUrls ?? [])],
    })),
    services: [...services].sort(byName).map((s) => ({
      name: s.name,
      basePath: s.basePath,
      placement: s.placement,
      // The same rule as a gateway's document: every region for `global`, else its deployments' regions.
      regions: s.placement === 'global' ? [...regionNames].sort() : [...new Set(s.deployments.map((d) => d.region).filter((r) => regionNames.has(r)))].sort(),
      ...(s.jurisdictions?.length ? { jurisdictions: [...s.jurisdictions] } : {}),
      ...(s.failover?.length ? { failover: [...s.failover] } : {}),
      ...(s.openapi !== undefined ? { openapi: s.openapi } : {}),
      ...(s.docs !== undefined ? { docs: s.docs } : {}),
    })),
  };
}

export function validateSignedTopology(value: unknown): string[] {
  const p = new ProblemList();
  if (!object(value, '', p, ['environment', 'revision', 'issuedAt', 'regions', 'services'])) return p.result();
  required(value, ['environment', 'revision', 'issuedAt', 'regions', 'services'], '', p);
  name(value.environment, 'environment', p);
  count(value.revision, 'revision', p);
  dateTime(value.issuedAt, 'issuedAt', p);
  array(value.regions, 'regions', p, (r, path) => {
    if (!object(r, path, p, ['name', 'jurisdiction', 'provider', 'location', 'gatewayUrls'])) return;
    name(r.name, at(path, 'name'), p);
    jurisdiction(r.jurisdiction, at(path, 'jurisdiction'), p);
    if (r.provider !== undefined) label(r.provider, at(path, 'provider'), p);
    if (r.location !== undefined) label(r.location, at(path, 'location'), p);
    array(r.gatewayUrls, at(path, 'gatewayUrls'), p, (u, upath) => {
      const problem = gatewayUrlPatternProblem(u);
      if (problem) p.add(upath, problem);
    });
  });
  array(value.services, 'services', p, (s, path) => {
    if (!object(s, path, p, ['name', 'basePath', 'placement', 'regions', 'jurisdictions', 'failover', 'openapi', 'docs'])) return;
    name(s.name, at(path, 'name'), p);
    basePath(s.basePath, at(path, 'basePath'), p);
    oneOf(s.placement, PLACEMENTS, at(path, 'placement'), p);
    array(s.regions, at(path, 'regions'), p, (r, rpath) => name(r, rpath, p));
    if (s.jurisdictions !== undefined) array(s.jurisdictions, at(path, 'jurisdictions'), p, (j, jpath) => jurisdiction(j, jpath, p));
    if (s.failover !== undefined) array(s.failover, at(path, 'failover'), p, (r, rpath) => name(r, rpath, p));
    if (s.openapi !== undefined) text(s.openapi, at(path, 'openapi'), p, 2048);
    if (s.docs !== undefined) text(s.docs, at(path, 'docs'), p, 2048);
  });
  return p.result();
}

/** The header and payload parts of a compact JWS, ready for a signature over `signingInput`. */
export function signingInputOf(kid: string, payload: SignedTopology): string {
  const header: SignedHeader = { alg: SIGNATURE_ALGORITHM, kid, typ: SIGNED_TOPOLOGY_TYPE };
  return `${base64UrlEncode(utf8(JSON.stringify(header)))}.${base64UrlEncode(utf8(JSON.stringify(payload)))}`;
}

/** The compact JWS from its signing input and signature. */
export function compactJws(signingInput: string, signature: Uint8Array): string {
  return `${signingInput}.${base64UrlEncode(signature)}`;
}

/**
 * Decodes a compact JWS of a signed topology without verifying it: the statement, or the
 * problems (`signed: …`). Never throws.
 */
export function parseSignedStatement(jws: unknown): { ok: true; value: SignedStatement } | { ok: false; problems: string[] } {
  const fail = (what: string) => ({ ok: false as const, problems: [`signed: ${what}`] });
  if (typeof jws !== 'string') return fail('must be a string');
  const parts = jws.split('.');
  if (parts.length !== 3 || !parts.every((part) => /^[A-Za-z0-9_-]*$/.test(part))) return fail('must be a compact JWS (three base64url parts)');
  let header: unknown;
  let payload: unknown;
  let signature: Uint8Array;
  try {
    header = JSON.parse(fromUtf8(base64UrlDecode(parts[0]!)));
    payload = JSON.parse(fromUtf8(base64UrlDecode(parts[1]!)));
    signature = base64UrlDecode(parts[2]!);
  } catch {
    return fail('its header and payload must be base64url-encoded JSON');
  }
  if (!isObject(header) || header.alg !== SIGNATURE_ALGORITHM || header.typ !== SIGNED_TOPOLOGY_TYPE || typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 128) {
    return fail(`its header must be {"alg":"${SIGNATURE_ALGORITHM}","kid":…,"typ":"${SIGNED_TOPOLOGY_TYPE}"}`);
  }
  if (header.crit !== undefined) return fail('no critical header parameter is understood');
  if (signature.length !== 64) return fail('an Ed25519 signature is 64 bytes');
  const problems = validateSignedTopology(payload);
  if (problems.length > 0) return { ok: false, problems: problems.map((x) => `signed payload ${x}`) };
  return {
    ok: true,
    value: { jws, header: header as unknown as SignedHeader, payload: payload as SignedTopology, signingInput: `${parts[0]}.${parts[1]}`, signature },
  };
}

/** True when the statement lets a gateway of `region` register with `url`. */
export function gatewayAllowed(statement: SignedTopology, region: string, url: string): boolean {
  const r = statement.regions.find((x) => x.name === region);
  return r !== undefined && gatewayUrlAllowed(r.gatewayUrls, url);
}

/**
 * What a document says beyond its verified statement: its regions and services must be exactly
 * the statement's (as the gateway builds them), its revision no older. Problems, `[]` when covered.
 */
export function documentProblems(doc: TopologyDocument, statement: SignedTopology): string[] {
  const p = new ProblemList();
  if (doc.environment !== statement.environment) p.add('environment', `the statement is of "${statement.environment}"`);
  if (doc.revision < statement.revision) p.add('revision', `older than the statement's revision ${statement.revision}`);
  if (doc.regions.length !== statement.regions.length) p.add('regions', `${doc.regions.length} regions, the statement has ${statement.regions.length}`);
  const regions = new Map(statement.regions.map((r) => [r.name, r]));
  doc.regions.forEach((r, i) => {
    const s = regions.get(r.name);
    if (!s) return p.add(at(at('regions', i), 'name'), `region "${r.name}" is not in the statement`);
    if (r.jurisdiction !== s.jurisdiction || r.provider !== s.provider || r.location !== s.location) {
      p.add(at('regions', i), `region "${r.name}" differs from the statement`);
    }
  });
  if (doc.services.length !== statement.services.length) p.add('services', `${doc.services.length} services, the statement has ${statement.services.length}`);
  const services = new Map(statement.services.map((s) => [s.name, s]));
  doc.services.forEach((d, i) => {
    const s = services.get(d.name);
    if (!s) return p.add(at(at('services', i), 'name'), `service "${d.name}" is not in the statement`);
    const same =
      d.basePath === s.basePath &&
      d.placement === s.placement &&
      sameList(d.regions, s.regions) &&
      sameList(d.jurisdictions ?? [], s.jurisdictions ?? []) &&
      sameList(d.failover ?? [], s.failover ?? []) &&
      d._links?.['service-desc']?.href === s.openapi &&
      d._links?.['service-doc']?.href === s.docs;
    if (!same) p.add(at('services', i), `service "${d.name}" differs from the statement`);
  });
  return p.result();
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;
const ascii = new TextDecoder('latin1');

/** base64url without padding (RFC 7515 §2), in plain code so it runs in any runtime. */
export function base64UrlEncode(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil((bytes.length * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = CODES[(n >> 18) & 63]!;
    out[o++] = CODES[(n >> 12) & 63]!;
    out[o++] = CODES[(n >> 6) & 63]!;
    out[o++] = CODES[n & 63]!;
  }
  const left = bytes.length - i;
  if (left > 0) {
    const n = (bytes[i]! << 16) | (left > 1 ? bytes[i + 1]! << 8 : 0);
    out[o++] = CODES[(n >> 18) & 63]!;
    out[o++] = CODES[(n >> 12) & 63]!;
    if (left > 1) out[o++] = CODES[(n >> 6) & 63]!;
  }
  return ascii.decode(out.subarray(0, o));
}

/** Decodes unpadded base64url; throws on any other character or an impossible length. */
export function base64UrlDecode(text: string): Uint8Array {
  if (text.length % 4 === 1) throw new Error('impossible base64url length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    const len = Math.min(4, text.length - i);
    for (let j = 0; j < 4; j++) {
      const c = j < len ? text.charCodeAt(i + j) : 65;
      const v = c < 128 ? INDEX[c]! : -1;
      if (v < 0) throw new Error('not base64url');
      n = (n << 6) | (j < len ? v : 0);
    }
    out[o++] = (n >> 16) & 255;
    if (len > 2) out[o++] = (n >> 8) & 255;
    if (len > 3) out[o++] = n & 255;
  }
  return out.subarray(0, o);
}
