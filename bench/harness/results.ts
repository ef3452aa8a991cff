import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem, type as osType } from 'node:os';
import { dirname } from 'node:path';
import type { BenchMode, BenchmarkResult } from './benchmark.js';
import type { LoadToolName } from './load.js';

/** The machine a run was taken on: figures from different machines do not compare. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  freeMemoryMiB: number;
  /** 1, 5 and 15 minute load averages at the start: above the core count, the machine was shared. */
  loadAverage: number[];
  os: string;
  node: string;
}

/** Everything one `npm run bench` produced: what is written to the JSON file. */
export interface RunResults {
  startedAt: string;
  finishedAt: string;
  mode: BenchMode;
  rounds: number;
  loadTool: LoadToolName;
  machine: MachineInfo;
  /** Load averages when the run ended. */
  loadAverageAtEnd: number[];
  benchmarks: BenchmarkResult[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    freeMemoryMiB: Math.round(freemem() / 2 ** 20),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    os: `${osType()} ${release()}`,
    node: process.version,
  };
}

/** Default file of a run: bench/results/<start time>-<mode>.json (the folder is git-ignored). */
export function defaultResultsFile(root: string, startedAt: Date, mode: BenchMode): string {
  return `${root}/bench/results/${startedAt.toISOString().replace(/[:.]/g, '-')}-${mode}.json`;
}

export function writeResults(file: string, results: RunResults): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
