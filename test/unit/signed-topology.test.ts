import { expect } from 'chai';
import { generateKeyPairSync, sign } from 'node:crypto';
import { SignatureVerifier, InvalidOptionsError, InvalidTopologyError } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import {
  base64UrlDecode,
  base64UrlEncode,
  compactJws,
  documentProblems,
  gatewayUrlAllowed,
  gatewayUrlPatternProblem,
  parseSignedStatement,
  signedTopologyOf,
  signingInputOf,
  validateRegionDefinition,
} from '../../topology/index.js';

describe('signed topology rules (topology/signed.ts, gateway-pattern.ts) and the SDK verifier', () => {
  it('matches gateway URLs against origins and one-label wildcards only', () => {
    const patterns = ['https://*.eu.example.com', 'http://127.0.0.1:8090'];
    expect(gatewayUrlAllowed(patterns, 'https://gw1.eu.example.com')).to.equal(true);
    expect(gatewayUrlAllowed(patterns, 'https://gw1.eu.example.com:443')).to.equal(true);
    expect(gatewayUrlAllowed(patterns, 'http://127.0.0.1:8090/')).to.equal(true);
    for (const url of ['https://eu.example.com', 'https://a.b.eu.example.com', 'http://gw1.eu.example.com', 'https://gw1.eu.example.com:8443', 'http://127.0.0.1:8091', 'https://evil.com/.eu.example.com', 'https://gw1.eu.example.com.evil.com']) {
      expect(gatewayUrlAllowed(patterns, url), url).to.equal(false);
    }
    expect(gatewayUrlPatternProblem('https://*.com')).to.match(/two labels/);
    expect(gatewayUrlPatternProblem('https://*.a.com/x')).to.match(/without a path/);
    expect(gatewayUrlPatternProblem('ftp://a.example.com')).to.match(/http\(s\)/);
    expect(validateRegionDefinition({ name: 'eu', jurisdiction: 'EU', gatewayUrls: ['https://ok.example.com', 'https://x/y'] })).to.deep.equal(['gatewayUrls[1]: must be an origin (scheme, host and port) without a path']);
  });

  it('encodes base64url like Node, and refuses what is not', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      const text = base64UrlEncode(bytes);
      expect(text).to.equal(Buffer.from(bytes).toString('base64url'));
      expect(Buffer.from(base64UrlDecode(text)).equals(Buffer.from(bytes))).to.equal(true);
    }
    expect(() => base64UrlDecode('ab+c')).to.throw();
    expect(() => base64UrlDecode('a')).to.throw();
  });

  it('decodes statements without throwing, naming what is wrong', () => {
    expect(parseSignedStatement(42)).to.deep.equal({ ok: false, problems: ['signed: must be a string'] });
    expect(parseSignedStatement('a.b')).to.have.property('ok', false);
    const badHeader = `${base64UrlEncode(new TextEncoder().encode('{"alg":"none"}'))}.e30.${base64UrlEncode(new Uint8Array(64))}`;
    expect(parseSignedStatement(badHeader)).to.deep.include({ ok: false });
    const statement = signedTopologyOf('prod', 5, new Date(0), [], []);
    const shortSignature = compactJws(signingInputOf('k', statement), new Uint8Array(10));
    expect(parseSignedStatement(shortSignature)).to.deep.equal({ ok: false, problems: ['signed: an Ed25519 signature is 64 bytes'] });
  });

  it('verifies with any trusted key, names the reason otherwise, and drops gateways outside the allow-list', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const statement = signedTopologyOf('prod', 7, new Date(0), [{ name: 'eu-west', jurisdiction: 'EU', gatewayUrls: ['https://*.eu.example.com'] }], [
      { name: 'hr', basePath: '/hr/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: ['http://10.0.0.1'] }] },
    ]);
    expect(JSON.stringify(statement)).not.to.include('10.0.0.1');
    const input = signingInputOf('k1', statement);
    const doc: TopologyDocument = {
      environment: 'prod',
      revision: 9,
      stale: false,
      maxStaleSeconds: 300,
      refresh: { intervalSeconds: 30, jitterSeconds: 5 },
      regions: [{ name: 'eu-west', jurisdiction: 'EU', gateways: [{ id: 'a', url: 'https://a.eu.example.com', status: 'up' }, { id: 'evil', url: 'https://evil.example.net', status: 'up' }] }],
      services: [{ name: 'hr', basePath: '/hr/v1', placement: 'regional', regions: ['eu-west'], _links: { self: { href: '/x' }, entrypoints: [{ href: 'https://evil.example.net/hr/v1', name: 'evil', region: 'eu-west' }, { href: 'https://a.eu.example.com/hr/v1', name: 'a', region: 'eu-west' }] } }],
      signed: compactJws(input, sign(null, Buffer.from(input), privateKey)),
      _links: { self: { href: '/.well-known/topology' }, service: { href: '/s/{name}', templated: true } },
    };
    expect(documentProblems(doc, statement)).to.deep.equal([]);
    const other = (generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const verified = await new SignatureVerifier([{ kty: 'OKP', crv: 'Ed25519', x: other }, { kty: 'OKP', crv: 'Ed25519', x, kid: 'k1' }]).verify(doc, 'test');
    expect(verified.doc.regions[0]!.gateways.map((g) => g.id)).to.deep.equal(['a']);
    expect(verified.doc.services[0]!._links!.entrypoints!.map((e) => e.name)).to.deep.equal(['a']);
    const reasonOf = async (d: TopologyDocument, v = new SignatureVerifier([{ kty: 'OKP', crv: 'Ed25519', x }])) =>
      v.verify(d, 'test').then(() => 'accepted', (e: unknown) => (e as InvalidTopologyError).reason);
    expect(await reasonOf({ ...doc, signed: undefined })).to.equal('unsigned');
    expect(await reasonOf(doc, new SignatureVerifier([{ kty: 'OKP', crv: 'Ed25519', x: other }]))).to.equal('signature');
    expect(await reasonOf({ ...doc, services: [{ ...doc.services[0]!, basePath: '/hr/v2' }] })).to.equal('mismatch');
    expect(await reasonOf({ ...doc, revision: 6 })).to.equal('mismatch');
    expect(() => new SignatureVerifier([{ kty: 'OKP', crv: 'Ed25519', x: 'short' }])).to.throw(InvalidOptionsError);
  });
});
