import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = process.cwd();

/** What `npm run build` promises: the CLI and both package entry points, from dist/. */
describe('the built package (npm run build)', function () {
  this.timeout(30_000);

  before(function () {
    if (!existsSync('dist/cli/waymark.js')) {
      throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
    }
  });

  it('exposes the waymark CLI with --help on every command', () => {
    const help = execFileSync(process.execPath, ['dist/cli/waymark.js', '--help'], { encoding: 'utf8' });
    for (const cmd of ['registry', 'gateway', 'agent', 'apply', 'diff', 'promote', 'get', 'status', 'token', 'up']) {
      expect(help, cmd).to.match(new RegExp(`\\n\\s+${cmd}\\b`));
    }
    expect(execFileSync(process.execPath, ['dist/cli/waymark.js', 'up', '--help'], { encoding: 'utf8' })).to.include('--base-port');
  });

  it('resolves waymark/client to the SDK and waymark to the server side', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const c = await import('waymark/client'); const s = await import('waymark');
         console.log(JSON.stringify({ client: typeof c.WaymarkClient, server: [typeof s.createGateway, typeof s.createRegistry], leaked: 'createGateway' in c }));`,
      ],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out)).to.deep.equal({ client: 'function', server: ['function', 'function'], leaked: false });
  });

  it('resolves waymark/client by condition: node:http on Node, the fetch build for browser and default, and ships the bundle', () => {
    const resolve = (conditions: string[]) =>
      execFileSync(process.execPath, [...conditions.map((c) => `--conditions=${c}`), '--input-type=module', '-e', `console.log(import.meta.resolve('waymark/client'))`], { encoding: 'utf8' }).trim();
    expect(resolve([])).to.match(/\/dist\/client-sdk\/index\.js$/);
    expect(resolve(['browser'])).to.match(/\/dist\/client-sdk\/browser\.js$/);
    const bundle = execFileSync(process.execPath, ['--input-type=module', '-e', `console.log(import.meta.resolve('waymark/client/bundle'))`], { encoding: 'utf8' }).trim();
    expect(bundle).to.match(/\/dist\/browser\/waymark-client\.js$/);
    expect(existsSync(new URL(bundle))).to.equal(true);
  });
});

/**
 * What README's "Installing" says works: `npm pack`, then `npm install <tarball>` in a project of
 * one's own. The tarball is packed from the build already in dist/ (`--ignore-scripts`: `prepack`
 * would build it again); dependencies come from npm's cache when it has them.
 */
describe('the package as a user installs it (npm pack, npm install <tarball>)', function () {
  this.timeout(240_000);
  let dir: string;
  let project: string;
  let packed: string[];

  before(function () {
    this.timeout(240_000);
    if (!existsSync('dist/cli/waymark.js')) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
    dir = mkdtempSync(join(tmpdir(), 'waymark-pack-'));
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packed = info.files.map((f) => f.path);
    project = join(dir, 'app');
    execFileSync('mkdir', [project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, info.filename)], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds only runtime files, and builds them before packing', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prepack).to.include('npm run --silent build');
    expect(packed.filter((p) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(p))).to.deep.equal([]);
    expect(packed.filter((p) => p.endsWith('.map') || (p.endsWith('.ts') && !p.endsWith('.d.ts')))).to.deep.equal([]);
    expect(packed).to.include.members(['dist/cli/waymark.js', 'dist/client-sdk/index.js', 'dist/client-sdk/index.d.ts', 'dist/registry/dashboard/index.html', 'README.md']);
  });

  it('imports waymark/client and runs the waymark command from the installed tarball', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', "const c = await import('waymark/client'); console.log(typeof c.WaymarkClient, import.meta.resolve('waymark/client'))"], {
      cwd: project,
      encoding: 'utf8',
    });
    const [kind, where] = out.trim().split(' ');
    expect(kind).to.equal('function');
    expect(where).to.include(`${project}/node_modules/waymark/dist/client-sdk/index.js`);
    const help = execFileSync(join(project, 'node_modules/.bin/waymark'), ['--help'], { cwd: project, encoding: 'utf8' });
    expect(help).to.match(/^Usage: waymark/);
  });

  it("type-checks README's TypeScript snippets against the installed package's types", () => {
    const snippets = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    expect(snippets.length, 'README has TypeScript snippets').to.be.at.least(1);
    const files = snippets.map((text, i) => {
      const file = join(project, `readme-${i}.ts`);
      writeFileSync(file, text);
      return file;
    });
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
      // The project has no @types/node of its own: the snippets' console and timers come from this checkout's.
      typeRoots: [resolve(ROOT, 'node_modules/@types')],
      types: ['node'],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(problems).to.deep.equal([]);
  });
});
