import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApplyResult, EnvironmentStatus, EnvironmentSummary, EnvironmentView, InternalTopology, TopologyDocument } from '../../openapi/index.js';
import { runWaymark, type CliRun } from '../support/cli.js';
import { startGateway, type StartedGateway } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { useEtcd } from '../support/store.js';
import { waitFor } from '../support/wait.js';

const ROOT = process.cwd();
const EXAMPLE = join(ROOT, 'examples/global-enterprise');

type Run = CliRun;

/** Runs `waymark …` as a child process, as a user would (from the repository root). */
const waymark = runWaymark;

describe('waymark CLI end to end (child processes, real etcd)', function () {
  // Each run starts node and tsx (about 1-2 s of CPU): generous, for a loaded machine.
  this.timeout(180_000);
  const ctx = useEtcd();
  let dir: string;
  let registry: ChildProcess | undefined;
  let registryLog = '';
  let url: string;
  let admin: string;
  let client: Record<string, string>;

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(join(tmpdir(), 'waymark-cli-'));
    const tokens = join(dir, 'tokens.json');
    const created = await waymark(['token', 'create', '--tokens', tokens, '--role', 'admin', '--name', 'ci-admin']);
    expect(created.code, created.stderr).to.equal(0);
    admin = created.stdout.trim();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // A prefix of its own, so the environments can be called dev and prod like the example's.
    registry = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/waymark.ts', 'registry', '--etcd', ctx.etcd.endpoints.join(','), '--listen', `127.0.0.1:${port}`, '--tokens', tokens, '--prefix', `/waymark-cli-${process.pid}`],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    registry.stdout!.on('data', (d: Buffer) => (registryLog += d.toString()));
    registry.stderr!.on('data', (d: Buffer) => (registryLog += d.toString()));
    await waitFor(async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 30_000, what: 'the registry to answer' });
    client = { WAYMARK_REGISTRY: url, WAYMARK_TOKEN: admin };
  });

  after(async () => {
    if (registry && registry.exitCode === null) {
      const exited = new Promise((resolve) => registry!.once('exit', resolve));
      registry.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates tokens whose hash only is stored, in a file of mode 0600', () => {
    const file = JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8')) as { tokens: Array<{ name: string; sha256: string; role: string }> };
    expect(statSync(join(dir, 'tokens.json')).mode & 0o777).to.equal(0o600);
    expect(file.tokens).to.have.length(1);
    expect(file.tokens[0]).to.include({ name: 'ci-admin', role: 'admin', sha256: createHash('sha256').update(admin).digest('hex') });
    expect(readFileSync(join(dir, 'tokens.json'), 'utf8')).to.not.include(admin);
    expect(registryLog).to.not.include(admin);
  });

  it('applies the example, is idempotent, diffs a change and rejects invalid manifests with exit 1', async () => {
    const files = ['-f', join(EXAMPLE, 'regions.yaml'), join(EXAMPLE, 'services.yaml'), join(EXAMPLE, 'environments/prod.yaml')];
    const first = await waymark(['apply', ...files, '--environment', 'prod'], client);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.include('+ Service/hr').and.include('+ Region/eu-west').and.match(/11 created, 0 updated, 0 deleted, 0 unchanged; revision \d+/);

    const again = await waymark(['apply', ...files, '-o', 'json'], { ...client, WAYMARK_ENVIRONMENT: 'prod' });
    expect(again.code).to.equal(0);
    const result = JSON.parse(again.stdout) as ApplyResult;
    expect(result.changed).to.equal(false);
    expect(result.summary.unchanged).to.equal(11);

    const changed = join(dir, 'services.yaml');
    writeFileSync(changed, readFileSync(join(EXAMPLE, 'services.yaml'), 'utf8').replace('basePath: /crm/v1', 'basePath: /crm/v2'));
    const diff = await waymark(['diff', '-f', join(EXAMPLE, 'regions.yaml'), changed, '-e', 'prod'], client);
    expect(diff.code, diff.stderr).to.equal(0);
    expect(diff.stdout).to.include('~ Service/crm').and.include('spec.basePath: "/crm/v1" → "/crm/v2"').and.include('dry run');

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: hr }\nspec:\n  basePath: /hr/v1\n  placement: everywhere\n  deployments: [{ region: eu-west, upstreams: ["http://a"] }]\n');
    const rejected = await waymark(['apply', '-f', bad, '-e', 'prod'], client);
    expect(rejected.code).to.equal(1);
    expect(rejected.stderr).to.include('VALIDATION_FAILED').and.include(`${bad}:6:3 (document 0) Service/hr spec.placement: unknown placement "everywhere"`);
  });

  it('promotes with each environment\'s variables, and shows topology and status', async () => {
    const dev = await waymark(['apply', '-f', join(EXAMPLE, 'regions.yaml'), join(EXAMPLE, 'services.yaml'), join(EXAMPLE, 'environments/dev.yaml'), '-e', 'dev'], client);
    expect(dev.code, dev.stderr).to.equal(0);
    const staging = join(dir, 'staging.yaml');
    writeFileSync(staging, readFileSync(join(EXAMPLE, 'environments/prod.yaml'), 'utf8').replace('name: prod', 'name: staging').replace(/:92/g, ':93'));
    expect((await waymark(['apply', '-f', staging, '-e', 'staging'], client)).code).to.equal(0);

    const dry = await waymark(['promote', '--from', 'dev', '--to', 'staging', '--dry-run'], client);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include('+ Service/hr').and.include('dry run');
    const done = await waymark(['promote', '--from', 'dev', '--to', 'staging'], client);
    expect(done.code, done.stderr).to.equal(0);

    const topo = await waymark(['get', 'topology', '-e', 'staging', '-o', 'json'], client);
    const t = JSON.parse(topo.stdout) as InternalTopology;
    expect(t.services.find((s) => s.name === 'hr')!.deployments[0].upstreams).to.deep.equal(['http://127.0.0.1:9301']);
    const devTopo = JSON.parse((await waymark(['get', 'services', '-e', 'dev', '-o', 'json'], client)).stdout) as InternalTopology['services'];
    expect(devTopo.find((s) => s.name === 'hr')!.deployments[0].upstreams).to.deep.equal(['http://127.0.0.1:9101']);

    const regions = await waymark(['get', 'regions', '-e', 'staging'], client);
    expect(regions.stdout.split('\n')[0]).to.match(/^REGION\s+JURISDICTION\s+PROVIDER\s+LOCATION\s+GATEWAYS$/);
    expect(regions.stdout).to.match(/eu-west\s+EU\s+cloud-a\s+Frankfurt\s+0/);
    const yaml = await waymark(['get', 'services', '-e', 'staging', '-o', 'yaml'], client);
    expect(yaml.stdout).to.include('name: hr').and.include('placement: pinned');

    const status = await waymark(['status', '-e', 'staging', '-o', 'json'], client);
    expect(status.code).to.equal(0);
    expect((JSON.parse(status.stdout) as EnvironmentStatus).gateways).to.deep.equal([]);
    const table = await waymark(['status', '-e', 'staging'], client);
    expect(table.stdout).to.match(/^environment staging: revision \d+, 0 gateway\(s\)/);
  });

  it('tells one revision everywhere: documents, get topology, get environments, status, the dashboard view and apply', async () => {
    const env = 'revs';
    const vars = join(dir, 'revs-env.yaml');
    writeFileSync(vars, readFileSync(join(EXAMPLE, 'environments/prod.yaml'), 'utf8').replace('name: prod', `name: ${env}`));
    const all = ['-f', join(EXAMPLE, 'regions.yaml'), join(EXAMPLE, 'services.yaml'), vars, '-e', env];
    expect((await waymark(['apply', ...all], client)).code).to.equal(0);
    const gateways: StartedGateway[] = [];
    try {
      const common = { etcd: ctx.etcd.endpoints, environment: env, prefix: `/waymark-cli-${process.pid}`, quiet: true };
      gateways.push(await startGateway({ ...common, region: 'eu-west', id: 'gw-a' }));
      gateways.push(await startGateway({ ...common, region: 'us-east', id: 'gw-b' }));
      // A deletion by an apply (--prune drops the services), then one no key shows: gw-b's lease revoked.
      const pruned = await waymark(['apply', '-f', join(EXAMPLE, 'regions.yaml'), vars, '-e', env, '--prune'], client);
      expect(pruned.code, pruned.stderr).to.equal(0);
      await gateways.pop()!.close();
      const gw = gateways[0];
      const doc = async () => (await (await fetch(`${gw.url}/.well-known/topology`)).json()) as TopologyDocument;
      await waitFor(async () => (await doc()).services.length === 0 && (await doc()).regions.every((r) => r.gateways.every((g) => g.id === 'gw-a')), {
        timeoutMs: 20_000,
        what: 'gw-a to serve the pruned environment without gw-b',
      });
      const revision = (await doc()).revision;
      const status = async () => JSON.parse((await waymark(['status', '-e', env, '-o', 'json'], client)).stdout) as EnvironmentStatus;
      await waitFor(async () => (await status()).gateways[0]?.appliedRevision === revision, { timeoutMs: 20_000, what: 'gw-a to report its revision' });

      const s = await status();
      const topology = JSON.parse((await waymark(['get', 'topology', '-e', env, '-o', 'json'], client)).stdout) as InternalTopology;
      const summaries = JSON.parse((await waymark(['get', 'environments', '-o', 'json'], client)).stdout) as EnvironmentSummary[];
      const noop = JSON.parse((await waymark(['apply', '-f', join(EXAMPLE, 'regions.yaml'), vars, '-e', env, '-o', 'json'], client)).stdout) as ApplyResult;
      const view = (await (await fetch(`${url}/v1/environments/${env}/view`, { headers: { authorization: `Bearer ${admin}` } })).json()) as EnvironmentView;
      expect({
        status: s.revision,
        lag: s.gateways.map((g) => [g.id, g.appliedRevision, g.lag, g.health]),
        topology: topology.revision,
        environments: summaries.find((e) => e.name === env)?.revision,
        noopApply: [noop.changed, noop.revision],
        view: view.revision,
      }).to.deep.equal({
        status: revision,
        lag: [['gw-a', revision, 0, 'healthy']],
        topology: revision,
        environments: revision,
        noopApply: [false, revision],
        view: revision,
      });
      expect((await waymark(['status', '-e', env], client)).stdout).to.match(new RegExp(`^environment ${env}: revision ${revision}, 1 gateway\\(s\\)`));
      expect((await waymark(['get', 'topology', '-e', env], client)).stdout).to.include(`environment ${env} at revision ${revision}\n`);
    } finally {
      for (const g of gateways) await g.close();
    }
  });

  it('refuses an unknown environment with exit 1 in every command that reads one', async () => {
    const reads = [
      ['get', 'regions'],
      ['get', 'services'],
      ['get', 'gateways'],
      ['get', 'topology'],
      ['status'],
      ['status', '-o', 'json'],
      ['policy', 'get'],
      ['watch'],
      ['promote', '--from', 'nope', '--to', 'prod', '--dry-run'],
    ];
    const runs = await Promise.all(reads.map((args) => waymark(args.includes('--from') ? args : [...args, '-e', 'nope'], client)));
    expect(runs.map((r, i) => [reads[i].join(' '), r.code, /\bnope\b/.test(r.stderr) && /NOT_FOUND/.test(r.stderr)])).to.deep.equal(reads.map((a) => [a.join(' '), 1, true]));
  });

  it('exits 1 on auth failures, 2 on usage errors and 3 when the registry is unreachable', async () => {
    const viewer = (await waymark(['token', 'create', '--tokens', join(dir, 'tokens.json'), '--role', 'viewer'])).stdout.trim();
    const forbidden = await waymark(['apply', '-f', join(EXAMPLE, 'regions.yaml'), '-e', 'prod'], { WAYMARK_REGISTRY: url, WAYMARK_TOKEN: viewer });
    expect([forbidden.code, forbidden.stderr]).to.satisfy(([c, e]: [number, string]) => c === 1 && e.includes('FORBIDDEN'));
    expect((await waymark(['get', 'regions', '-e', 'prod'], { WAYMARK_REGISTRY: url, WAYMARK_TOKEN: viewer })).code).to.equal(0);
    const noToken = await waymark(['get', 'environments'], { WAYMARK_REGISTRY: url });
    expect(noToken.code).to.equal(1);
    expect(noToken.stderr).to.include('UNAUTHORIZED');

    expect((await waymark(['apply', '-f', join(EXAMPLE, 'regions.yaml')], client)).code, 'no environment').to.equal(2);
    expect((await waymark(['apply', '-e', 'prod'], client)).code, 'no -f').to.equal(2);
    expect((await waymark(['apply', '-f', join(dir, 'missing.yaml'), '-e', 'prod'], client)).code, 'missing file').to.equal(2);
    expect((await waymark(['frobnicate'])).code).to.equal(2);
    expect((await waymark(['token', 'create', '--tokens', join(dir, 't2.json'), '--role', 'operator'])).code, 'operator without environments').to.equal(2);

    const unreachable = await waymark(['get', 'environments'], { WAYMARK_REGISTRY: `http://127.0.0.1:${await freePort()}`, WAYMARK_TOKEN: admin });
    expect(unreachable.code).to.equal(3);
    expect(unreachable.stderr).to.include('did not answer');
  });

  it('has --help on every command', async () => {
    const runs = await Promise.all(
      [['--help'], ['registry', '--help'], ['token', 'create', '--help'], ['apply', '--help'], ['diff', '--help'], ['promote', '--help'], ['get', '--help'], ['status', '--help']].map((a) =>
        waymark(a),
      ),
    );
    for (const r of runs) {
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^Usage: waymark/);
    }
  });
});
