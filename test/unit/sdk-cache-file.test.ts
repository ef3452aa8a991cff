import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheFile } from '../../client-sdk/cache-file.js';
import { InvalidTopologyError } from '../../client-sdk/errors.js';
import { topologyDoc } from '../support/topology-doc.js';

describe('SDK cache file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waymark-sdk-cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const doc = (revision: number) => topologyDoc({ revision, regions: [{ name: 'eu-west', gateways: [{ url: 'http://eu' }] }], services: [{ name: 'catalog' }] });

  it('reads back what it wrote, creating the folder, and leaves no temporary file', async () => {
    const cache = new CacheFile(join(dir, 'sub', 'topology.json'));
    const confirmedAt = new Date('2026-01-02T03:04:05.000Z');
    const written = doc(7);
    await cache.write({ document: written, confirmedAt });
    const read = await cache.read();
    expect(read?.document).to.deep.equal(written);
    expect(read?.confirmedAt.toISOString()).to.equal(confirmedAt.toISOString());
    expect(readdirSync(join(dir, 'sub'))).to.deep.equal(['topology.json']);
  });

  it('keeps the last of concurrent writes', async () => {
    const cache = new CacheFile(join(dir, 'topology.json'));
    await Promise.all([1, 2, 3, 4, 5].map((r) => cache.write({ document: doc(r), confirmedAt: new Date() })));
    expect((await cache.read())?.document.revision).to.equal(5);
    expect(readdirSync(dir)).to.deep.equal(['topology.json']);
  });

  it('reads nothing when there is no file', async () => {
    expect(await new CacheFile(join(dir, 'none.json')).read()).to.equal(undefined);
  });

  it('rejects a corrupt or tampered file with InvalidTopologyError', async () => {
    const path = join(dir, 'topology.json');
    writeFileSync(path, '{"confirmedAt": "2026-01-01T00:00:00Z", "document": {"environment": 1');
    const cache = new CacheFile(path);
    let err: unknown;
    await cache.read().catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(InvalidTopologyError);
    const bad = doc(3);
    bad.regions[0]!.gateways[0]!.url = 'file:///etc/passwd';
    writeFileSync(path, JSON.stringify({ confirmedAt: new Date().toISOString(), document: bad }));
    err = undefined;
    await cache.read().catch((e: unknown) => (err = e));
    expect((err as InvalidTopologyError).message).to.include(`cache file ${path}`).and.include('gateways[0].url');
  });
});
