/**
 * `npm run bench [-- <name>… ] [--smoke] [--rounds N] [--load-tool wrk|autocannon] [--out FILE] [--markdown]`
 *
 * Runs the benchmarks on loopback (each starts and stops what it needs), prints one table per
 * benchmark and writes every figure to a JSON file under bench/results/. Ctrl-C stops the
 * benchmark in progress and runs its cleanups; a second Ctrl-C exits at once.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS, BenchUsageError, markdownTable, runBenchmarks, type LoadToolName } from './index.js';

const USAGE = `usage: npm run bench -- [name…] [--smoke] [--rounds N] [--load-tool wrk|autocannon] [--out FILE] [--markdown] [--list]
  name         one or more of: ${BENCHMARKS.map((b) => b.name).join(', ')} (default: all)
  --smoke      a few seconds each: checks that every benchmark still runs (part of npm test)
  --rounds N   rounds of each A/B comparison (default 3; 1 with --smoke)
  --load-tool  load generator for unpaced runs (default wrk when installed, else autocannon)
  --out FILE   JSON results file (default bench/results/<time>-<mode>.json)
  --markdown   also print every figure as one Markdown table
  --list       print the benchmarks and exit`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        smoke: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        'load-tool': { type: 'string' },
        out: { type: 'string' },
        markdown: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list) {
    for (const b of BENCHMARKS) process.stdout.write(`${b.name.padEnd(12)} ${b.title}\n`);
    return 0;
  }
  const tool = values['load-tool'];
  if (tool !== undefined && tool !== 'wrk' && tool !== 'autocannon') {
    process.stderr.write(`--load-tool must be wrk or autocannon, got ${JSON.stringify(tool)}\n`);
    return 2;
  }
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  // Gateways run as `node cli/waymark.ts` relative to the repository root.
  process.chdir(root);

  const controller = new AbortController();
  let interrupts = 0;
  const interrupt = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(`\n${signal}: stopping; cleaning up (again to exit at once)\n`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  try {
    const { results, file } = await runBenchmarks(BENCHMARKS, {
      root,
      names: positionals,
      mode: values.smoke ? 'smoke' : 'full',
      ...(rounds !== undefined ? { rounds } : {}),
      ...(tool !== undefined ? { loadTool: tool as LoadToolName } : {}),
      ...(values.out !== undefined ? { out: values.out } : {}),
      signal: controller.signal,
    });
    if (values.markdown) process.stdout.write(`\n${markdownTable(results.benchmarks)}\n`);
    process.stdout.write(`\nresults: ${file}\n`);
    if (controller.signal.aborted) return 130;
    return results.benchmarks.some((b) => b.error) ? 1 : 0;
  } catch (err) {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
