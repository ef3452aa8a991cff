import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
