import { expect } from 'chai';
import { build } from 'esbuild';
import { buildBrowserBundle } from '../../scripts/build-browser.js';
import { importGraph } from '../support/import-graph.js';

/** The browser bundle's budget, min+gzip: the SDK and axios, nothing of Node. */
const MAX_GZIP_BYTES = 40 * 1024;

describe('the SDK for browsers and edge runtimes', function () {
  this.timeout(60_000);

  it('reaches no Node built-in from its browser entry (client-sdk/browser.ts)', () => {
    const { files, packages, builtins } = importGraph('client-sdk/browser.ts');
    expect(files).to.include('client-sdk/platform-web.ts');
    expect(files).to.not.include('client-sdk/platform-node.ts');
    expect([...packages]).to.deep.equal(['axios']);
    expect([...builtins]).to.deep.equal([]);
  });

  it('bundles for platform "browser" (esbuild) within its size budget, and a Node import fails that build', async () => {
    const bundle = await buildBrowserBundle();
    expect(bundle.inputs.some((i) => i.includes('client-sdk/platform-web.ts'))).to.equal(true);
    expect(bundle.inputs.filter((i) => i.startsWith('node:') || i.includes('platform-node'))).to.deep.equal([]);
    expect(bundle.gzipBytes).to.be.below(MAX_GZIP_BYTES);
    console.log(`      browser bundle: ${(bundle.minBytes / 1024).toFixed(1)} KiB minified, ${(bundle.gzipBytes / 1024).toFixed(1)} KiB min+gzip (budget ${MAX_GZIP_BYTES / 1024} KiB)`);

    // The Node entry cannot be built for the browser: esbuild refuses node:* there.
    const err = await build({ entryPoints: ['client-sdk/index.ts'], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' }).catch((e: unknown) => e);
    expect(String((err as Error).message)).to.match(/Could not resolve "node:/);
  });
});
