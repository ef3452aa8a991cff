import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';

/**
 * The SDK ships to client apps: its import graph (from client-sdk/index.ts, type-only imports
 * included) may reach only client-sdk/ and openapi/ files, node: builtins and axios, never the
 * registry, the gateway or server dependencies (koa, etcd3…).
 */
describe('SDK import graph', () => {
  const root = resolve(import.meta.dirname, '../..');

  function imports(file: string): string[] {
    const source = readFileSync(file, 'utf8');
    const specs = new Set<string>();
    const patterns = [/\b(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g, /declare module\s+['"]([^'"]+)['"]/g];
    for (const re of patterns) for (const m of source.matchAll(re)) specs.add(m[1]!);
    return [...specs];
  }

  function walk(): { files: string[]; packages: Set<string>; builtins: Set<string> } {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const builtins = new Set<string>();
    const queue = [resolve(root, 'client-sdk/index.ts')];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else if (spec.startsWith('node:') || builtinModules.includes(spec)) builtins.add(spec);
        else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    return { files: [...seen].map((f) => relative(root, f)).sort(), packages, builtins };
  }

  it('reaches only client-sdk/ and openapi/ sources, node: builtins and axios', () => {
    const { files, packages, builtins } = walk();
    expect(files).to.include('client-sdk/transport.ts');
    expect(files).to.include('openapi/generated/waymark.ts');
    for (const f of files) expect(f, f).to.match(/^(client-sdk|openapi)\//);
    expect([...packages]).to.deep.equal(['axios']);
    for (const b of builtins) expect(b, `${b} must use the node: prefix`).to.match(/^node:/);
  });
});
