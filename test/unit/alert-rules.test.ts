import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { skipBecause } from '../support/skip.js';

const RULES = 'deploy/prometheus/waymark-rules.yaml';
const RULES_TEST = 'deploy/prometheus/waymark-rules.test.yaml';
/** Where the metrics the rules read are defined. */
const METRIC_SOURCES = ['gateway/metrics.ts', 'registry/server/metrics.ts'];

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; expr: string }> }>;
}

/**
 * The shipped alert rules: valid for Prometheus (`promtool check rules`), each alert exercised
 * by a rule unit test evaluated by Prometheus's own engine (`promtool test rules`), and reading
 * only metrics Waymark exports. promtool comes from scripts/ensure-promtool.sh.
 */
describe('alert rules: deploy/prometheus/waymark-rules.yaml (promtool)', function () {
  this.timeout(300_000);

  before(function () {
    const ensured = spawnSync('bash', ['scripts/ensure-promtool.sh'], { encoding: 'utf8' });
    if (ensured.status !== 0) {
      // Say why, once, where the run's output shows it; both promtool tests are then skipped.
      skipBecause(this, `the promtool tests: promtool is not available (${ensured.stderr.trim()})`);
    }
  });

  const run = (args: string[]) => spawnSync('promtool', args, { encoding: 'utf8' });

  it('passes promtool check rules', function () {
    const res = run(['check', 'rules', RULES]);
    expect(res.status, res.stdout + res.stderr).to.equal(0);
    expect(res.stdout).to.match(/SUCCESS: \d+ rules found/);
  });

  it('passes promtool test rules, with a test for every alert', function () {
    const res = run(['test', 'rules', RULES_TEST]);
    expect(res.status, res.stdout + res.stderr).to.equal(0);
    const alerts = (parse(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules.map((r) => r.alert).filter(Boolean));
    const tested = readFileSync(RULES_TEST, 'utf8');
    for (const alert of alerts) expect(tested, `no test for ${alert}`).to.include(`alertname: ${alert}\n`);
  });

  it('reads only metrics that the gateway and the registry export', () => {
    const sources = METRIC_SOURCES.map((f) => readFileSync(f, 'utf8')).join('\n');
    const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
    const names = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => r.expr.match(/\bwaymark_[a-z_]+/g) ?? [])));
    expect(names.size).to.be.greaterThan(5);
    for (const name of names) expect(sources, `${name} is not a metric of ${METRIC_SOURCES.join(' or ')}`).to.include(`'${name}'`);
  });
});
