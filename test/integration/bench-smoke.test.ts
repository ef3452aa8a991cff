import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCHMARKS, type BenchmarkResult, type Metric, type RunResults } from '../../bench/index.js';

/**
 * `npm run bench -- --smoke` (every benchmark for a few seconds), so the benchmarks cannot rot.
 * It checks that each one ran and produced sane figures, never that a target was met: a slow
 * figure on a shared machine must not fail the suite.
 */
describe('benchmarks, smoke run (npm run bench -- --smoke)', function () {
  this.timeout(150_000);
  let dir: string;
  let child: ChildProcess | undefined;
  let results: RunResults;

  before(async function () {
    this.timeout(150_000);
    dir = mkdtempSync(join(tmpdir(), 'waymark-bench-smoke-'));
    const file = join(dir, 'results.json');
    const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    proc.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    proc.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    child = undefined;
    expect(code, `bench --smoke exited ${code}:\n${output.slice(-4000)}`).to.equal(0);
    results = JSON.parse(readFileSync(file, 'utf8')) as RunResults;
  });

  after(() => {
    child?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const bench = (name: string): BenchmarkResult => {
    const b = results.benchmarks.find((x) => x.name === name);
    if (!b) throw new Error(`no results for benchmark ${name}`);
    return b;
  };
  const metric = (name: string, metricName: string): Metric => {
    const m = bench(name).metrics.find((x) => x.name === metricName);
    if (!m) throw new Error(`benchmark ${name} has no metric "${metricName}" (it has: ${bench(name).metrics.map((x) => x.name).join('; ')})`);
    return m;
  };
  const value = (name: string, metricName: string) => metric(name, metricName).value;

  it('ran every benchmark in smoke mode, without an error, with finite figures', () => {
    expect(results.mode).to.equal('smoke');
    expect(results.benchmarks.map((b) => b.name)).to.deep.equal(BENCHMARKS.map((b) => b.name));
    for (const b of results.benchmarks) {
      expect(b.error, `${b.name}: ${b.error}`).to.equal(undefined);
      expect(b.metrics.length, `${b.name} has no figures`).to.be.greaterThan(0);
      for (const m of b.metrics) {
        expect(Number.isFinite(m.value), `${b.name} / ${m.name} = ${m.value}`).to.equal(true);
        expect(m.n, `${b.name} / ${m.name}`).to.be.at.least(1);
        if (m.target) expect(m.verdict, `${b.name} / ${m.name}`).to.be.oneOf(['met', 'missed']);
      }
    }
    expect(results.machine.cpus).to.be.greaterThan(0);
  });

  it('discovery: requests/s of the gateway and the bare server, and their ratio, for 200s and 304s', () => {
    for (const variant of ['full 200 identity', 'full 200 gzip', 'conditional 304']) {
      expect(value('discovery', `${variant}: gateway`)).to.be.greaterThan(50);
      expect(value('discovery', `${variant}: bare node`)).to.be.greaterThan(50);
      expect(value('discovery', `${variant}: ratio gateway/bare`)).to.be.within(0.02, 50);
      expect(value('discovery', `${variant}: ratio CLI gateway/bare`)).to.be.within(0.02, 50);
      const p50 = value('discovery', `${variant}: gateway p50`);
      expect(p50).to.be.greaterThan(0);
      expect(value('discovery', `${variant}: gateway p99`)).to.be.at.least(p50);
    }
  });

  it('proxy: direct and gateway requests/s and the latency the gateway adds; nginx only when installed', () => {
    expect(value('proxy', 'saturated: direct')).to.be.greaterThan(50);
    expect(value('proxy', 'saturated: gateway')).to.be.greaterThan(50);
    expect(value('proxy', 'saturated: ratio gateway/direct')).to.be.within(0.001, 10);
    expect(value('proxy', 'moderate: gateway p50')).to.be.greaterThan(0);
    expect(value('proxy', 'moderate: gateway added p99 over direct')).to.be.within(-1000, 1000);
    expect(value('proxy', 'saturated: CLI gateway, request log on (default)')).to.be.greaterThan(50);
    expect(value('proxy', 'saturated: ratio request log on/off')).to.be.within(0.001, 10);
    const hasNginx = bench('proxy').metrics.some((m) => m.name === 'saturated: ratio gateway/nginx');
    const skipped = bench('proxy').notes.some((n) => n.startsWith('nginx baseline skipped'));
    expect(hasNginx !== skipped, 'either nginx ran or its skip is explained').to.equal(true);
  });

  it('propagation: every change reached every gateway and client, in order of seconds at most', () => {
    expect(value('propagation', 'changes not everywhere within 10 s')).to.equal(0);
    const p50 = value('propagation', 'to every gateway: p50');
    expect(p50).to.be.greaterThan(0);
    expect(value('propagation', 'to every gateway: max')).to.be.at.least(p50).and.below(10_000);
    expect(value('propagation', 'to every SDK client: max')).to.be.greaterThan(0).and.below(10_000);
  });

  it('eviction: a killed gateway left within a few lease TTLs (2 s)', () => {
    // The lease left has between 2/3 and all of its TTL when the process dies.
    expect(value('eviction', 'TTL 2 s: gone from every document')).to.be.within(1000, 10_000);
  });

  it('failover: the stream ran and came back through the other region, for a kill and a black hole', () => {
    for (const scenario of ['kill', 'blackhole']) {
      expect(value('failover', `${scenario}: requests sent`)).to.be.greaterThan(10);
      expect(value('failover', `${scenario}: failed requests`)).to.be.at.least(0);
      expect(value('failover', `${scenario}: time until requests succeed again`)).to.be.within(0, 10_000);
    }
  });

  it('sdk: SDK and axios throughput, their ratio, and the resolver cost per call', () => {
    expect(value('sdk', 'request(): SDK')).to.be.greaterThan(10);
    expect(value('sdk', 'request(): plain axios')).to.be.greaterThan(10);
    expect(value('sdk', 'request(): ratio SDK/axios')).to.be.within(0.05, 20);
    expect(value('sdk', 'resolve() at 10 000 services')).to.be.within(1, 100_000);
  });

  it('pushback: discovery req/s with half the long-poll slots and with enough, their ratio, and propagation to the clients', () => {
    const enough = value('pushback', '40 clients, 80 slots: discovery requests/s at the gateway');
    const half = value('pushback', '40 clients, 20 slots: discovery requests/s at the gateway');
    expect(enough).to.be.greaterThan(0);
    expect(half).to.be.greaterThan(0);
    expect(value('pushback', 'discovery req/s: half the slots / enough slots')).to.be.within(0.01, 100);
    expect(value('pushback', '40 clients, 80 slots: apply → every client, max')).to.be.within(0, 10_000);
    expect(value('pushback', '40 clients, 20 slots: long-polls refused (all clients)')).to.be.at.least(1);
  });

  it('scale: apply, document sizes, change → served, build, memory and discovery at size', () => {
    const applied = bench('scale').metrics.find((m) => m.name.startsWith('apply of ') && m.name.includes('atomic'));
    expect(applied?.value).to.be.greaterThan(0);
    expect(value('scale', 'document, identity')).to.be.greaterThan(value('scale', 'document, gzip'));
    expect(value('scale', 'change → new document served (child gateway, long-poll answered)')).to.be.within(0, 10_000);
    expect(value('scale', 'document build after a change (in-process Publication)')).to.be.greaterThan(0);
    expect(value('scale', 'discovery conditional 304')).to.be.greaterThan(50);
    expect(value('scale', 'gateway RSS')).to.be.greaterThan(10);
  });
});
