import { expect } from 'chai';
import fc from 'fast-check';
import { WaymarkClient } from '../../client-sdk/index.js';
import { checkDocument } from '../../client-sdk/document.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { spawnGateway, startBackend, type SpawnedGateway, type TestBackend } from '../support/gateway.js';
import { mutateRecord } from '../support/record-corpus.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** Values a hostile or broken writer puts anywhere in a record. */
const HOSTILE: readonly unknown[] = [
  null,
  true,
  -1,
  1e308,
  1.5,
  '',
  '<script>alert(1)</script>',
  'javascript:alert(1)',
  'http://a\r\nX-Injected: 1',
  'a\r\nb',
  '\u0000',
  '\u001b[2J',
  'EU',
  'pinned',
  'evil',
  [],
  [null],
  {},
  'y'.repeat(5000),
];

/** `[[[…]]]` as text, deeper than any validator should walk. */
const DEEP = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;

interface Target {
  key: string;
  /** A valid record for the key, mutated by the fuzzer. */
  base: Record<string, unknown>;
}

/** A valid record with one field, or one field of a nested object, replaced, removed, or added. */
function mutation(base: Record<string, unknown>): fc.Arbitrary<string> {
  const value = fc.oneof(fc.constantFrom(...HOSTILE), fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: 'binary', maxLength: 40 }));
  const mutated = fc.tuple(fc.nat(), fc.nat(), value, fc.boolean()).map(([a, b, v, remove]) => JSON.stringify(mutateRecord(base, a, b, v, remove)));
  const raw = fc.oneof(fc.constantFrom('null', '[]', '[1,2]', '"x"', '{', 'not json', '1e999', DEEP), fc.json({ maxDepth: 4 }), fc.string({ maxLength: 60 }));
  return fc.oneof({ weight: 4, arbitrary: mutated }, { weight: 1, arbitrary: raw });
}

/**
 * Random and mutated records written straight to etcd while two gateway processes serve and an
 * SDK client follows them: every gateway stays up, every document published passes the SDK's
 * check, and the client keeps a valid topology and follows the last change.
 */
describe('record fuzz: random and mutated records straight to etcd (real etcd, gateway processes, SDK)', function () {
  this.timeout(90_000);
  const ctx = useEtcd();
  const gateways: SpawnedGateway[] = [];
  let backend: TestBackend;
  let client: WaymarkClient | undefined;

  after(async () => {
    await client?.close();
    for (const g of gateways) g.kill('SIGTERM');
    await Promise.all(gateways.map((g) => g.exited));
    await backend?.close();
  });

  it('200 records: gateways stay up, publish only valid documents, the client never gets stuck', async () => {
    const env = uniqueEnv('fuzz');
    const { conn, layout } = ctx;
    backend = await startBackend('catalog');
    const put = (key: string, value: string) => conn.call((c) => c.put(key).value(value).exec());
    await put(layout.region(env, 'eu-west'), JSON.stringify(region('eu-west', 'EU')));
    await put(layout.region(env, 'us-east'), JSON.stringify(region('us-east', 'US')));
    await put(layout.service(env, 'catalog'), JSON.stringify(service('catalog', ['eu-west', 'us-east'], { deployments: ['eu-west', 'us-east'].map((r) => ({ region: r, upstreams: [backend.url] })) })));
    await put(layout.service(env, 'victim'), JSON.stringify(service('victim', ['eu-west'], { placement: 'pinned', jurisdictions: ['EU'] })));
    for (const [r, id] of [
      ['eu-west', 'gw-eu'],
      ['us-east', 'gw-us'],
    ] as const) {
      gateways.push(await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: r, id }));
    }
    const exits: string[] = [];
    for (const g of gateways) void g.exited.then((e) => exits.push(`${g.url} exited (code ${e.code}, signal ${e.signal}): ${g.output().slice(-1500)}`));

    client = new WaymarkClient({ bootstrap: gateways.map((g) => g.url), region: 'eu-west', environment: env, connectTimeoutMs: 500, attemptTimeoutMs: 2000, longPollSeconds: 2 });
    const rejected: string[] = [];
    client.on('rejected', (e) => rejected.push(JSON.stringify(e).slice(0, 500)));
    await client.ready();

    // The client needed one gateway; the other may not have read etcd yet (503 NO_SNAPSHOT until it has).
    for (const g of gateways) {
      await waitFor(async () => (await fetch(`${g.url}/.well-known/topology`, { signal: AbortSignal.timeout(5000) })).status === 200, {
        what: `${g.url} to serve its first document`,
        timeoutMs: 20_000,
      });
    }
    // Every document any gateway publishes, checked as the SDK checks it, as fast as it can poll.
    const published = new Map<string, number>();
    let polling = true;
    const problems: string[] = [];
    // A poll that times out on a loaded machine is not a wrong answer; a hung gateway fails the final check.
    let timeouts = 0;
    const poll = async (g: SpawnedGateway) => {
      while (polling) {
        try {
          const res = await fetch(`${g.url}/.well-known/topology`, { signal: AbortSignal.timeout(5000) });
          const body = await res.text();
          if (res.status !== 200) problems.push(`${g.url} answered ${res.status}: ${body.slice(0, 300)}`);
          else {
            const doc = checkDocument(JSON.parse(body), g.url);
            published.set(`${g.url} ${doc.revision}`, doc.revision);
          }
        } catch (err) {
          if ((err as Error).name === 'TimeoutError') timeouts++;
          else if (polling) problems.push(`${g.url}: ${(err as Error).message.slice(0, 300)}`);
        }
      }
    };
    const pollers = gateways.map((g) => poll(g));

    const targets: Target[] = [
      { key: layout.service(env, 'victim'), base: service('victim', ['eu-west'], { placement: 'pinned', jurisdictions: ['EU'] }) as unknown as Record<string, unknown> },
      ...[1, 2, 3].map((i) => ({ key: layout.service(env, `fz-${i}`), base: service(`fz-${i}`, ['eu-west']) as unknown as Record<string, unknown> })),
      { key: layout.region(env, 'us-east'), base: { ...region('us-east', 'US'), location: 'Virginia' } },
      { key: layout.region(env, 'fz-r'), base: { ...region('fz-r', 'EU'), location: 'Nowhere' } },
      { key: layout.gateway(env, 'us-east', 'fz-g'), base: { id: 'fz-g', region: 'us-east', url: 'http://127.0.0.1:1', status: 'draining', startedAt: new Date().toISOString() } },
      { key: layout.commit(env), base: { id: 'c', at: new Date().toISOString(), summary: { created: 0, updated: 0, deleted: 0, unchanged: 0 } } },
    ];
    const writes = fc.sample(
      fc.integer({ min: 0, max: targets.length - 1 }).chain((i) => mutation(targets[i]!.base).map((value) => ({ key: targets[i]!.key, value }))),
      { numRuns: 200, seed: 13 },
    );
    const started = Date.now();
    for (const w of writes) {
      await put(w.key, w.value);
      expect(exits, exits.join('\n')).to.deep.equal([]);
    }
    // A last, valid change: the gateways and the client must all reach it.
    await put(layout.service(env, 'final'), JSON.stringify(service('final', ['eu-west'])));
    const finalRevision = Number((await conn.call((c) => c.get(layout.service(env, 'final')).exec())).kvs[0]!.mod_revision);
    await waitFor(() => client!.topology()?.services.some((s) => s.name === 'final'), { timeoutMs: 15_000, what: 'the SDK client to follow the last change' });
    polling = false;
    await Promise.all(pollers);
    console.log(`      ${writes.length} records written in ${Date.now() - started} ms; ${published.size} documents published and checked (${timeouts} polls timed out); final revision ${finalRevision}`);

    expect(exits, exits.join('\n')).to.deep.equal([]);
    expect(problems, problems.slice(0, 5).join('\n')).to.deep.equal([]);
    expect(rejected, rejected.slice(0, 5).join('\n')).to.deep.equal([]);
    const doc: TopologyDocument = checkDocument(JSON.parse(JSON.stringify(client.topology())), 'client');
    expect(doc.services.map((s) => s.name)).to.include.members(['catalog', 'final']);
    // Quarantined keys kept their last valid version, so the client routes as before.
    const res = await client.request('catalog', { method: 'GET', url: '/items/1' });
    expect(res.status).to.equal(200);
    for (const g of gateways) {
      const res = await fetch(`${g.url}/.well-known/topology`, { signal: AbortSignal.timeout(2000) });
      expect(checkDocument(await res.json(), g.url).services.map((s) => s.name)).to.include('final');
      const metrics = await (await fetch(`${g.url}/metrics`)).text();
      expect(metrics).to.match(/^waymark_gateway_internal_errors_total\{boundary="publish"[^}]*\} 0$/m);
    }
  });
});
