import { expect } from 'chai';
import type { Logger } from 'pino';
import { parseLogSample, requestLogger } from '../../cli/request-log.js';
import type { RequestInfo } from '../../gateway/index.js';
import { createLogger } from '../../telemetry/index.js';

/** A pino stand-in that records what `info` was given. */
function recorder(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stub = { info: (obj: Record<string, unknown>) => lines.push(obj), child: () => stub };
  const logger = stub as unknown as Logger;
  return { logger, lines };
}

const info = (status: number, i = 0): RequestInfo => ({ method: 'GET', path: '/hr/v1/people', service: 'hr', status, durationMs: 1.23456, requestId: `r-${i}`, traceparent: 't', upstream: true });

describe('gateway request log line (--log-sample)', () => {
  it('logs every request by default, with rounded duration and no absent flags', () => {
    const { logger, lines } = recorder();
    requestLogger(logger, 1)(info(200));
    expect(lines).to.deep.equal([
      { event: 'request', requestId: 'r-0', traceparent: 't', method: 'GET', path: '/hr/v1/people', service: 'hr', status: 200, durationMs: 1.235, upstream: true },
    ]);
  });

  it('writes the format of every other line (level name, ISO time, base fields) through a real logger', () => {
    const written: string[] = [];
    const logger = createLogger({ name: 'gateway', base: { region: 'eu-west' }, destination: { write: (s: string) => written.push(s) } });
    requestLogger(logger, 1)(info(200));
    const line = JSON.parse(written[0]) as Record<string, unknown>;
    expect(line).to.include({ level: 'info', name: 'gateway', region: 'eu-west', event: 'request', requestId: 'r-0', status: 200, msg: 'request' });
    expect(Number.isNaN(Date.parse(String(line.time)))).to.equal(false);
  });

  it('at 0 logs only answers of 500 and above', () => {
    const { logger, lines } = recorder();
    const log = requestLogger(logger, 0);
    for (const status of [200, 304, 404, 421, 500, 502, 504]) log(info(status));
    expect(lines.map((l) => l.status)).to.deep.equal([500, 502, 504]);
  });

  it('at a fraction logs about that share of the requests', () => {
    const { logger, lines } = recorder();
    const log = requestLogger(logger, 0.25);
    for (let i = 0; i < 4000; i++) log(info(200, i));
    // Binomial(4000, 0.25): mean 1000, sd 27; the bounds are 10 sd away.
    expect(lines.length).to.be.within(730, 1270);
  });

  it('refuses a value that is not a fraction from 0 to 1, saying which', () => {
    expect(parseLogSample('0')).to.equal(0);
    expect(parseLogSample('0.1')).to.equal(0.1);
    expect(parseLogSample('1')).to.equal(1);
    for (const bad of ['', ' ', '-0.1', '1.5', 'half', 'NaN', 'Infinity']) {
      expect(() => parseLogSample(bad), bad).to.throw(`${JSON.stringify(bad)} is not a fraction from 0 to 1`);
    }
  });
});
