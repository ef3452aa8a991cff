/**
 * Verification of signed topologies (see topology/signed.ts): the compact JWS a document carries
 * is checked with WebCrypto's Ed25519 (`globalThis.crypto.subtle`, so the module runs in
 * browsers too), against the keys the application trusts, never against keys a gateway serves.
 */
import type { SignedTopology, TopologyDocument } from '../openapi/index.js';
import { documentProblems, gatewayAllowed, parseSignedStatement, utf8 } from '../topology/index.js';
import { InvalidOptionsError, InvalidTopologyError } from './errors.js';

/** A public key an application trusts: the JWK `waymark keys list` prints (RFC 8037 OKP, Ed25519). */
export interface TrustedKey {
  kty: 'OKP';
  crv: 'Ed25519';
  /** The public key, base64url. */
  x: string;
  /** The key's id (its RFC 7638 thumbprint); without it, the key is tried for any `kid`. */
  kid?: string;
}

/** WebCrypto's key type, named through the global so no DOM library or Node module is needed. */
type VerifyKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;

/** A document a verifier accepted: the document to route on and the statement it carries. */
export interface VerifiedDocument {
  doc: TopologyDocument;
  statement: SignedTopology;
}

/**
 * Checks documents against trusted keys. A document is accepted only when its `signed` statement
 * verifies with one of the keys and its regions and services are exactly the statement's; the
 * gateways outside their region's signed allow-list (and their entry points) are then dropped,
 * so no call is ever sent to them.
 */
export class SignatureVerifier {
  private readonly keys: Promise<Array<{ kid: string | undefined; key: VerifyKey }>>;

  constructor(trusted: readonly TrustedKey[]) {
    checkTrustedKeys(trusted);
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) throw new InvalidOptionsError('trustedKeys needs WebCrypto (globalThis.crypto.subtle), which this runtime lacks');
    this.keys = Promise.all(
      trusted.map(async (k) => ({
        kid: k.kid,
        key: await subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: k.x }, { name: 'Ed25519' }, false, ['verify']),
      })),
    );
    // A key WebCrypto refuses surfaces at the first verification; keep it from being unhandled.
    this.keys.catch(() => undefined);
  }

  /** The document as it may be routed on, or InvalidTopologyError (`unsigned`, `signature`, `mismatch`). */
  async verify(doc: TopologyDocument, source: string): Promise<VerifiedDocument> {
    if (doc.signed === undefined) throw new InvalidTopologyError(source, 'unsigned', ['the document carries no signed statement, and trustedKeys is set']);
    const parsed = parseSignedStatement(doc.signed);
    if (!parsed.ok) throw new InvalidTopologyError(source, 'signature', parsed.problems);
    const { header, signingInput, signature, payload } = parsed.value;
    let keys;
    try {
      keys = await this.keys;
    } catch (err) {
      throw new InvalidTopologyError(source, 'signature', [`a trusted key cannot be imported: ${(err as Error).message}`]);
    }
    const candidates = keys.filter((k) => k.kid === undefined || k.kid === header.kid);
    const data = utf8(signingInput);
    let valid = false;
    for (const { key } of candidates) {
      if (await globalThis.crypto.subtle.verify({ name: 'Ed25519' }, key, signature, data)) {
        valid = true;
        break;
      }
    }
    if (!valid) {
      throw new InvalidTopologyError(source, 'signature', [
        candidates.length === 0 ? `signed with key ${header.kid}, which is not trusted` : `the signature does not verify with the trusted key(s) for ${header.kid}`,
      ]);
    }
    const problems = documentProblems(doc, payload);
    if (problems.length > 0) throw new InvalidTopologyError(source, 'mismatch', problems);
    return { doc: withAllowedGateways(doc, payload), statement: payload };
  }
}

/** The document without the gateways its statement does not allow, nor their entry points. */
function withAllowedGateways(doc: TopologyDocument, statement: SignedTopology): TopologyDocument {
  const dropped = new Set<string>();
  const regions = doc.regions.map((r) => {
    const gateways = r.gateways.filter((g) => {
      const ok = gatewayAllowed(statement, r.name, g.url);
      if (!ok) dropped.add(`${r.name}/${g.id}`);
      return ok;
    });
    return gateways.length === r.gateways.length ? r : { ...r, gateways };
  });
  if (dropped.size === 0) return doc;
  const services = doc.services.map((s) => {
    const entrypoints = s._links?.entrypoints;
    if (!s._links || !entrypoints) return s;
    return { ...s, _links: { ...s._links, entrypoints: entrypoints.filter((e) => !dropped.has(`${e.region}/${e.name}`)) } };
  });
  return { ...doc, regions, services };
}

function checkTrustedKeys(trusted: unknown): void {
  if (!Array.isArray(trusted) || trusted.length === 0) throw new InvalidOptionsError('trustedKeys must list at least one public key');
  trusted.forEach((k: Partial<TrustedKey> | null, i) => {
    if (!k || k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(k.x)) {
      throw new InvalidOptionsError(`trustedKeys[${i}] must be an Ed25519 JWK {"kty":"OKP","crv":"Ed25519","x":"<43 base64url characters>"} (waymark keys list prints them)`);
    }
    if (k.kid !== undefined && (typeof k.kid !== 'string' || k.kid === '')) throw new InvalidOptionsError(`trustedKeys[${i}].kid must be a non-empty string`);
  });
}
