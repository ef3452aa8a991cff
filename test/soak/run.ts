/**
 * `npm run soak [-- --minutes N]`: the soak test on its own (not part of `npm test`). Exits 1 when
 * an acknowledged write was lost, an idempotent call failed, or memory grew past the bound.
 */
import { parseArgs } from 'node:util';
import { describeSoak, runSoak, type SoakReport } from './soak.js';

/** RSS may grow by this much over a run (warm-up, JIT, caches) before it counts as a leak. */
const RSS_GROWTH_BOUND_MIB = 64;

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' } } });
const minutes = Number(values.minutes);
if (!(Number.isFinite(minutes) && minutes > 0)) {
  process.stderr.write(`--minutes ${values.minutes}: give a positive number of minutes\n`);
  process.exit(2);
}

process.stdout.write(`soak: ${minutes} min of mixed applies, gateway restarts and SDK traffic\n`);
const report: SoakReport = await runSoak({ durationMs: minutes * 60_000, log: (line) => process.stdout.write(`${line}\n`) });
for (const line of describeSoak(report)) process.stdout.write(`${line}\n`);
const problems = [
  ...report.lostWrites,
  ...Object.entries(report.traffic).flatMap(([region, t]) => t.failures.slice(0, 5).map((f) => `${region}: failed call: ${f.error}`)),
  ...Object.entries(report.rss)
    .filter(([, r]) => r.end - r.start > RSS_GROWTH_BOUND_MIB)
    .map(([name, r]) => `${name}: RSS grew from ${r.start} to ${r.end} MiB (bound +${RSS_GROWTH_BOUND_MIB} MiB)`),
];
for (const p of problems) process.stdout.write(`FAIL ${p}\n`);
process.stdout.write(problems.length ? 'soak: FAILED\n' : 'soak: passed\n');
process.exit(problems.length ? 1 : 0);
