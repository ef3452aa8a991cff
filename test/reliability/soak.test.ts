import { expect } from 'chai';
import { describeSoak, runSoak } from '../soak/soak.js';

/** The soak of `npm run soak`, for 20 seconds: the same checks, a shorter run. */
describe('soak (20 s variant of npm run soak)', function () {
  this.timeout(90_000);

  it('loses no acknowledged write and fails no idempotent call through applies and gateway restarts', async () => {
    const report = await runSoak({ durationMs: 20_000, restartIntervalMs: 4000 });
    for (const line of describeSoak(report)) console.log(`      ${line}`);
    expect(report.lostWrites).to.deep.equal([]);
    expect(report.applies.failures).to.deep.equal([]);
    expect(report.applies.acknowledged).to.be.greaterThan(20);
    expect(report.restarts.sigkill, 'SIGKILL restarts').to.be.at.least(1);
    expect(report.restarts.sigterm, 'SIGTERM restarts').to.be.at.least(1);
    for (const [region, t] of Object.entries(report.traffic)) {
      expect(t.failures.map((f) => f.error), region).to.deep.equal([]);
      expect(t.ok, region).to.be.greaterThan(100);
    }
    // Too short to judge a slow leak (npm run soak does); this catches a runaway one.
    for (const [name, r] of Object.entries(report.rss)) expect(r.end - r.start, name).to.be.below(64);
  });
});
