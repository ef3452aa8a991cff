import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';

/** What a module's import graph reaches (type-only imports included). */
export interface ImportGraph {
  /** Source files, relative to the repository root, sorted. */
  files: string[];
  /** npm packages by name. */
  packages: Set<string>;
  /** Node built-ins as written (`node:fs`, or `fs` without the prefix). */
  builtins: Set<string>;
}

const root = resolve(import.meta.dirname, '../..');

const PATTERNS = [
  /\b(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  /declare module\s+['"]([^'"]+)['"]/g,
];

function imports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const specs = new Set<string>();
  for (const re of PATTERNS) for (const m of source.matchAll(re)) specs.add(m[1]!);
  return [...specs];
}

/** Walks every import from `entry` (a path relative to the repository root). */
export function importGraph(entry: string): ImportGraph {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const builtins = new Set<string>();
  const queue = [resolve(root, entry)];
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
