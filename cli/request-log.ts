import { InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import type { RequestInfo } from '../gateway/index.js';
import { infoLineWriter } from '../telemetry/index.js';

/** The `--log-sample` option of `waymark gateway`. */
export const LOG_SAMPLE_HELP = 'fraction of requests given a log line, 0 to 1 (answers of 500 and above, and answers cut short, are always logged)';

export function parseLogSample(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a fraction from 0 to 1, such as 0.1`);
  return n;
}

/**
 * The gateway's per-request line (`event: request`), serialized here: its fields are fixed and
 * hold no header or token, so it skips pino's generic walk and redaction (see infoLineWriter).
 * With `sample` below 1, a request answered under 500 is logged with that probability (each
 * independently, as Envoy's runtime fractions do), so a busy gateway can keep a representative
 * log at a fraction of the cost; failures (500 and above, answers cut short) are always logged. Undefined when info is not logged.
 */
export function requestLogger(logger: Logger, sample: number): ((r: RequestInfo) => void) | undefined {
  const write = infoLineWriter(logger, 'request');
  if (!write) return undefined;
  return (r) => {
    if (sample < 1 && r.status < 500 && !r.aborted && Math.random() >= sample) return;
    write(
      `,"event":"request","requestId":${JSON.stringify(r.requestId)},"traceparent":${JSON.stringify(r.traceparent)},"method":${JSON.stringify(r.method)}` +
        (r.path === undefined ? '' : `,"path":${JSON.stringify(r.path)}`) +
        (r.service === undefined ? '' : `,"service":${JSON.stringify(r.service)}`) +
        `,"status":${r.status}` +
        (r.aborted ? ',"aborted":true' : '') +
        `,"durationMs":${Math.round(r.durationMs * 1000) / 1000}` +
        (r.upstream ? ',"upstream":true' : '') +
        (r.dispatched ? ',"dispatched":true' : ''),
    );
  };
}
