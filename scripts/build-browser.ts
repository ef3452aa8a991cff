/**
 * Builds the SDK for browsers (`npm run build` runs it): `client-sdk/browser.ts` bundled with
 * axios by esbuild for `platform: 'browser'`, minified, as an ES module at
 * `dist/browser/waymark-client.js`. A Node built-in anywhere in the import graph fails the build:
 * esbuild cannot resolve `node:*` for the browser, and the metafile is checked too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';

export const BROWSER_ENTRY = 'client-sdk/browser.ts';
export const BROWSER_BUNDLE = 'dist/browser/waymark-client.js';

/** The bundle's bytes, minified and gzipped sizes, and the inputs it holds. */
export interface BrowserBundle {
  code: Uint8Array;
  minBytes: number;
  gzipBytes: number;
  inputs: string[];
}

export async function buildBrowserBundle(): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: [BROWSER_ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['es2022'],
    minify: true,
    write: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  const inputs = Object.keys((result.metafile as Metafile).inputs);
  const builtins = inputs.filter((i) => i.startsWith('node:') || /(^|\/)node_modules\/(undici|node-fetch)\//.test(i));
  if (builtins.length > 0) throw new Error(`the browser bundle must not contain Node modules: ${builtins.join(', ')}`);
  return { code, minBytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length, inputs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bundle = await buildBrowserBundle();
  mkdirSync('dist/browser', { recursive: true });
  writeFileSync(BROWSER_BUNDLE, bundle.code);
  console.log(`${BROWSER_BUNDLE}: ${(bundle.minBytes / 1024).toFixed(1)} KiB minified, ${(bundle.gzipBytes / 1024).toFixed(1)} KiB min+gzip`);
}
