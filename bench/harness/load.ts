import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackage, type ToolAvailability } from '../../test/support/debian-package.js';
import { LoadToolError } from './errors.js';
import { IpcWorker } from './ipc-worker.js';

export type LoadToolName = 'wrk' | 'autocannon';

/** One load run against one URL. */
export interface LoadSpec {
  url: string;
  /** Concurrent keep-alive connections. */
  connections: number;
  durationSeconds: number;
  headers?: Readonly<Record<string, string>>;
  /**
   * Requests per second over all connections (paced, open loop) instead of as fast as possible.
   * Only autocannon can pace, so a paced run always uses it.
   */
  rate?: number;
}

/** Latencies in milliseconds, measured per request (wrk: µs resolution; autocannon: hrtime). */
export interface LoadLatency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  tool: LoadToolName;
  /** Responses received (any status). */
  requests: number;
  durationSeconds: number;
  rps: number;
  latencyMs: LoadLatency;
  /** Connection errors, resets and timeouts. */
  errors: number;
  /** Responses with a status of 400 or more. */
  failedStatus: number;
  /** Bytes received (heads and bodies), per response. */
  bytesPerResponse: number;
}

export interface LoadRunnerOptions {
  /** Tool for unpaced runs. Default: wrk when it is on PATH (it costs the machine less CPU per request), else autocannon. */
  tool?: LoadToolName;
  /** Threads of wrk. Default 1: on a 2-core machine the server under test needs the other core. */
  wrkThreads?: number;
  /** A request without an answer for this long counts as an error, s. Default 10. */
  timeoutSeconds?: number;
}

export const LOAD_RUNNER_DEFAULTS = { wrkThreads: 1, timeoutSeconds: 10 } as const;

/** A job for the autocannon worker process (bench/workers/autocannon.ts). */
export interface AutocannonJob {
  spec: LoadSpec;
  timeoutSeconds: number;
}

const WRK_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));
const AUTOCANNON_WORKER = fileURLToPath(new URL('../workers/autocannon.ts', import.meta.url));

/** wrk's binary and version when it can be run. */
function findWrk(): { binary: string; version: string } | undefined {
  const res = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (res.error !== undefined) return undefined;
  return { binary: 'wrk', version: (/wrk (\S+)/.exec(`${res.stdout}${res.stderr}`)?.[1] ?? 'unknown').replace(/^debian\//, '') };
}

function wrkAvailable(): boolean {
  return findWrk() !== undefined;
}

/**
 * Finds wrk and, when `install` is set (full runs), installs Debian's package when it is missing:
 * wrk costs the machine far less CPU per request than autocannon, so on 2 cores more of the
 * machine goes to the servers being compared.
 */
export function ensureWrk(install: boolean, log: (line: string) => void): ToolAvailability {
  return ensureDebianPackage({ pkg: 'wrk', find: findWrk, install, log });
}

/**
 * Generates HTTP load from another process than the server under test: wrk as a child, or
 * autocannon (as a library) in a long-lived worker process fed over IPC.
 */
export class LoadRunner {
  readonly tool: LoadToolName;
  private readonly wrkThreads: number;
  private readonly timeoutSeconds: number;
  private readonly autocannon = new IpcWorker<AutocannonJob, Omit<LoadResult, 'tool'>>(AUTOCANNON_WORKER, 'the autocannon worker');
  private readonly running = new Set<ChildProcess>();

  constructor(options: LoadRunnerOptions = {}) {
    const hasWrk = wrkAvailable();
    this.tool = options.tool ?? (hasWrk ? 'wrk' : 'autocannon');
    this.wrkThreads = options.wrkThreads ?? LOAD_RUNNER_DEFAULTS.wrkThreads;
    this.timeoutSeconds = options.timeoutSeconds ?? LOAD_RUNNER_DEFAULTS.timeoutSeconds;
    if (this.tool === 'wrk' && !hasWrk) throw new LoadToolError('wrk is not on PATH: install it (apt-get install wrk) or use --load-tool autocannon');
  }

  /** The tool a spec runs with. */
  toolFor(spec: LoadSpec): LoadToolName {
    return spec.rate !== undefined ? 'autocannon' : this.tool;
  }

  /** How a spec runs, for the setup lines of a report. */
  describe(spec: Omit<LoadSpec, 'url'>): string {
    const tool = this.toolFor({ ...spec, url: '' });
    const seconds = tool === 'wrk' ? wrkSeconds(spec.durationSeconds) : spec.durationSeconds;
    const rate = spec.rate !== undefined ? `, paced at ${spec.rate} req/s` : '';
    return `${tool}${tool === 'wrk' ? ` -t${this.wrkThreads}` : ''} -c${spec.connections} -d${seconds}s${rate}`;
  }

  async run(spec: LoadSpec, signal?: AbortSignal): Promise<LoadResult> {
    if (!(spec.connections >= 1) || !(spec.durationSeconds > 0)) {
      throw new RangeError(`load on ${spec.url}: connections (${spec.connections}) and durationSeconds (${spec.durationSeconds}) must be positive`);
    }
    signal?.throwIfAborted();
    return this.toolFor(spec) === 'wrk' ? this.runWrk(spec, signal) : this.runAutocannon(spec, signal);
  }

  /** Stops the worker and any wrk still running. */
  async close(): Promise<void> {
    for (const child of this.running) child.kill('SIGKILL');
    await this.autocannon.close();
  }

  private runWrk(spec: LoadSpec, signal: AbortSignal | undefined): Promise<LoadResult> {
    const threads = Math.min(this.wrkThreads, spec.connections);
    const args = [
      '-t', String(threads),
      '-c', String(spec.connections),
      '-d', `${wrkSeconds(spec.durationSeconds)}s`,
      '--timeout', `${this.timeoutSeconds}s`,
      '-s', WRK_SCRIPT,
      ...Object.entries(spec.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
      spec.url,
    ];
    return new Promise((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.running.add(child);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const onAbort = () => child.kill('SIGKILL');
      signal?.addEventListener('abort', onAbort, { once: true });
      child.once('error', (e) => reject(new LoadToolError(`wrk could not start: ${e.message}`, { cause: e })));
      child.once('close', (code) => {
        this.running.delete(child);
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) return reject(signal.reason);
        const line = out.split('\n').find((l) => l.startsWith('WAYMARK_WRK '));
        if (code !== 0 || !line) {
          return reject(new LoadToolError(`wrk on ${spec.url} exited ${code} without a report: ${(err || out).trim().slice(-500)}`));
        }
        const r = JSON.parse(line.slice('WAYMARK_WRK '.length)) as WrkReport;
        const seconds = r.durationUs / 1e6;
        const e = r.errors;
        resolve({
          tool: 'wrk',
          requests: r.requests,
          durationSeconds: seconds,
          rps: r.requests / seconds,
          latencyMs: {
            p50: r.latencyUs.p50 / 1000,
            p90: r.latencyUs.p90 / 1000,
            p99: r.latencyUs.p99 / 1000,
            max: r.latencyUs.max / 1000,
            mean: r.latencyUs.mean / 1000,
          },
          errors: e.connect + e.read + e.write + e.timeout,
          failedStatus: e.status,
          bytesPerResponse: r.requests > 0 ? r.bytes / r.requests : 0,
        });
      });
    });
  }

  private runAutocannon(spec: LoadSpec, signal: AbortSignal | undefined): Promise<LoadResult> {
    return this.autocannon.request({ spec, timeoutSeconds: this.timeoutSeconds }, signal).then((r) => ({ tool: 'autocannon', ...r }));
  }
}

interface WrkReport {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

/** wrk takes whole seconds. */
function wrkSeconds(seconds: number): number {
  return Math.max(1, Math.round(seconds));
}

/** Errors or failed answers make a run's figures meaningless: throw rather than report them. */
export function assertClean(what: string, runs: readonly LoadResult[]): void {
  const bad = runs.find((r) => r.errors > 0 || r.failedStatus > 0 || r.requests === 0);
  if (bad) throw new LoadToolError(`${what}: a load run had ${bad.errors} errors and ${bad.failedStatus} failed answers out of ${bad.requests} responses`);
}

/** A run of conditional requests that got full bodies means the ETag no longer matched: its figures would be of 200s. */
export function assertNotModified(what: string, runs: readonly LoadResult[]): void {
  const full = runs.find((r) => r.bytesPerResponse > 2048);
  if (full) throw new LoadToolError(`${what}: ${Math.round(full.bytesPerResponse)} bytes per response, so not 304s: the ETag no longer matches the document`);
}
