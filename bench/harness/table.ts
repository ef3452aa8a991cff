import type { BenchmarkResult, Metric, Unit } from './benchmark.js';

/** A figure in its unit, with the precision that unit deserves. */
function formatValue(value: number | undefined, unit: Unit): string {
  if (value === undefined) return '';
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 'ratio':
      return `${value.toFixed(2)}×`;
    case 'req/s':
      return `${grouped(Math.round(value))} req/s`;
    case 'ms':
      return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : grouped(Math.round(value))} ms`;
    case 'µs':
      return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} µs`;
    case 'ns':
      return `${grouped(Math.round(value))} ns`;
    case 'bytes':
      return `${grouped(Math.round(value))} B`;
    case 'KiB':
      return `${value.toFixed(1)} KiB`;
    case 'MiB':
      return `${value.toFixed(1)} MiB`;
    case 'count':
      return grouped(Math.round(value));
  }
}

function grouped(n: number): string {
  return n.toLocaleString('en-US').replace(/,/g, ' ');
}

function range(m: Metric): string {
  if (m.min === undefined || m.max === undefined || m.n < 2) return '';
  return `${formatValue(m.min, m.unit)} … ${formatValue(m.max, m.unit)}`;
}

function verdict(m: Metric): string {
  if (!m.target) return '';
  return `${m.target.label} ${m.verdict === 'met' ? 'met' : 'MISSED'}`;
}

/** The rows of a benchmark as aligned text columns. */
function metricTable(metrics: readonly Metric[]): string[] {
  const rows = [['metric', 'value', 'min … max', 'n', 'target'], ...metrics.map((m) => [m.name, formatValue(m.value, m.unit), range(m), String(m.n), verdict(m)])];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => (col === 1 || col === 3 ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!))).join('  ').trimEnd());
}

/** The whole printed report of one benchmark. */
export function renderResult(r: BenchmarkResult): string {
  const lines = [`== ${r.name}: ${r.title} ==`];
  for (const s of r.setup) lines.push(`  setup: ${s}`);
  lines.push(`  rounds: ${r.rounds}; took ${(r.durationMs / 1000).toFixed(1)} s`);
  if (r.error) lines.push(`  ERROR: ${r.error}`);
  if (r.metrics.length > 0) lines.push(...metricTable(r.metrics).map((l) => `  ${l}`));
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

/** A Markdown table of every benchmark's figures (for the README's Performance section). */
export function markdownTable(results: readonly BenchmarkResult[]): string {
  const lines = ['| benchmark | metric | value | min … max | n | target |', '|---|---|---|---|---|---|'];
  for (const r of results) {
    for (const m of r.metrics) lines.push(`| ${r.name} | ${m.name} | ${formatValue(m.value, m.unit)} | ${range(m)} | ${m.n} | ${verdict(m)} |`);
    if (r.error) lines.push(`| ${r.name} | error | ${r.error.replace(/\|/g, '\\|')} | | | |`);
  }
  return lines.join('\n');
}
