import { WaymarkError } from '../topology/index.js';

/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class ExpositionParseError extends WaymarkError {
  constructor(line: number, problem: string) {
    super('BAD_METRICS', `the metrics text is not in Prometheus format at line ${line}: ${problem}`);
  }
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

/**
 * Parses the Prometheus text format (version 0.0.4): what the registry scrapes from gateways
 * and what tests read. Comments and blank lines are skipped; timestamps are ignored.
 */
export function parseExposition(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new ExpositionParseError(i + 1, `expected name{labels} value, got ${JSON.stringify(line.slice(0, 120))}`);
    const value = parseValue(m[3]);
    if (value === undefined) throw new ExpositionParseError(i + 1, `${JSON.stringify(m[3])} is not a number`);
    out.push({ name: m[1], labels: m[2] ? parseLabels(m[2], i + 1) : {}, value });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include every pair of `match`. */
export function sumSamples(samples: readonly MetricSample[], name: string, match: (labels: Record<string, string>) => boolean = () => true): number {
  let total = 0;
  for (const s of samples) if (s.name === name && match(s.labels)) total += s.value;
  return total;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m) {
      if (text.slice(at).trim() === '') break;
      throw new ExpositionParseError(line, `bad label at ${JSON.stringify(text.slice(at, at + 40))}`);
    }
    labels[m[1]] = m[2].replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN' || text === 'Nan') return NaN;
  const n = Number(text);
  return Number.isNaN(n) ? undefined : n;
}
