import { generateKeyPairSync, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SignatureVerifier } from '../../client-sdk/index.js';
import { buildDocument } from '../../gateway/document.js';
import { gatewayKey, TopologySnapshot } from '../../store/index.js';
import { compactJws, parseSignedStatement, signedTopologyOf, signingInputOf } from '../../topology/index.js';
import { makeGatewayRegistrations, makeRegions, makeServices } from '../fixtures/topology.js';
import type { Benchmark, BenchContext, BenchmarkReport } from '../harness/benchmark.js';
import { roundsMetric, statMetric } from '../harness/rounds.js';

/**
 * The cost of signed topology per document at 10 000 services: what the registry adds to an
 * apply (build the statement, serialize it, Ed25519 signature with node:crypto) and what a
 * client with trustedKeys adds to each document it takes (decode, WebCrypto Ed25519 verify,
 * compare with the document, drop gateways outside the allow-lists). No network, no etcd.
 */
export const signing: Benchmark = {
  name: 'signing',
  title: 'signed topology at 10 000 services: registry signing and SDK verification per document',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const rounds = ctx.pick(7, 2);
    const regions = makeRegions(6).map((r) => ({ ...r, gatewayUrls: [`https://*.${r.name}.waymark.test`] }));
    const services = makeServices(10_000, regions);
    const gateways = makeGatewayRegistrations(18, regions);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const kid = 'bench';

    const signMs: number[] = [];
    let jws = '';
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      const input = signingInputOf(kid, signedTopologyOf('bench', 1000 + i, new Date(), regions, services));
      jws = compactJws(input, sign(null, Buffer.from(input, 'ascii'), privateKey));
      signMs.push(performance.now() - start);
    }
    const statement = parseSignedStatement(jws);
    if (!statement.ok) throw new Error(`the benchmark's own statement is unreadable: ${statement.problems.join('; ')}`);
    const snapshot = new TopologySnapshot(
      'bench',
      2000,
      new Map(regions.map((r) => [r.name, r])),
      new Map(services.map((s) => [s.name, s])),
      new Map(gateways.map((g) => [gatewayKey(g.region, g.id), g])),
      undefined,
      statement.value,
    );
    const doc = buildDocument(snapshot, { maxStaleSeconds: 300, refreshIntervalSeconds: 30, refreshJitterSeconds: 5 });
    const verifier = new SignatureVerifier([{ kty: 'OKP', crv: 'Ed25519', x, kid }]);
    const verifyMs: number[] = [];
    for (let i = 0; i < rounds + 1; i++) {
      const start = performance.now();
      await verifier.verify(doc, 'bench');
      // The first verification imports the key: left out of the figures.
      if (i > 0) verifyMs.push(performance.now() - start);
    }
    const documentBytes = Buffer.byteLength(JSON.stringify(doc));
    ctx.log(`signed ${rounds} statements and verified ${rounds} documents of 10 000 services`);
    return {
      setup: [
        `10 000 services (generated like the scale benchmark) over ${regions.length} regions with ${gateways.length} gateways, one allow-list pattern per region`,
        `${rounds} rounds each; sign = statement built from the records + JSON + base64url + Ed25519 (node:crypto); verify = SignatureVerifier.verify (decode + WebCrypto Ed25519 + document comparison + allow-list filter)`,
      ],
      metrics: [
        roundsMetric('registry: sign one statement', 'ms', signMs),
        roundsMetric('SDK: verify one document', 'ms', verifyMs),
        statMetric('statement (compact JWS)', 'KiB', jws.length / 1024, 1),
        statMetric('document with its statement', 'KiB', documentBytes / 1024, 1),
      ],
      notes: ['the statement is embedded (not a detached payload): it adds its own size to the document (gzip/br of the served document shrink both)'],
      details: { signMs, verifyMs, jwsBytes: jws.length, documentBytes },
    };
  },
};
