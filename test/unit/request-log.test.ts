import { expect } from 'chai';
import { parseLogSample, requestLogger } from '../../cli/request-log.js';
import type { RequestInfo } from '../../gateway/index.js';
import { createLogger } from '../../telemetry/index.js';

type Line = Record<string, unknown>;

/** The gateway's request line writer on a real logger whose lines are kept. */
function recorder(sample: number, level: 'info' | 'warn' = 'info'): { log: ((r: RequestInfo) => void) | undefined; lines: () => Line[] } {
  const written: string[] = [];
  const logger = createLogger({ name: 'gateway', level, base: { region: 'eu-west' }, destination: { write: (s: string) => written.push(s) } });
  return { log: requestLogger(logger, sample), lines: () => written.map((w) => JSON.parse(w) as Line) };
}

const info = (status: number, i = 0): RequestInfo => ({ method: 'GET', path: '/hr/v1/people', service: 'hr', status, durationMs: 1.23456, requestId: `r-${i}`, traceparent: 't', upstream: true });

describe('gateway request log line (--log-sample)', () => {
  it('writes one JSON line in the format of every other line: level name, ISO time, bindings, rounded duration, no absent field', () => {
    const { log, lines } = recorder(1);
    log!(info(200));
    log!({ method: 'GET', status: 400, durationMs: 0.5, requestId: 'a"b\\c\u2028', traceparent: 't2' });
    const [line, refused] = lines();
    expect(line).to.include({ level: 'info', name: 'gateway', region: 'eu-west', event: 'request', requestId: 'r-0', traceparent: 't', method: 'GET', path: '/hr/v1/people', service: 'hr', status: 200, durationMs: 1.235, upstream: true, msg: 'request' });
    expect(Number.isNaN(Date.parse(String(line.time)))).to.equal(false);
    expect(line.pid).to.equal(process.pid);
    // Values are JSON-escaped; fields the request did not reach are left out.
    expect(refused).to.include({ requestId: 'a"b\\c\u2028', status: 400 });
    expect(refused).not.to.have.any.keys('path', 'service', 'upstream', 'dispatched');
  });

  it('is not set up when the log level leaves info out', () => {
    expect(recorder(1, 'warn').log).to.equal(undefined);
  });

  it('at 0 logs only answers of 500 and above', () => {
    const { log, lines } = recorder(0);
    for (const status of [200, 304, 404, 421, 500, 502, 504]) log!(info(status));
    expect(lines().map((l) => l.status)).to.deep.equal([500, 502, 504]);
  });

  it('says when an answer was cut short (aborted), and always logs it whatever the sample', () => {
    const { log, lines } = recorder(0);
    log!({ ...info(200), aborted: true });
    expect(lines()).to.have.length(1);
    expect(lines()[0]).to.include({ status: 200, aborted: true });
  });

  it('at a fraction logs about that share of the requests', () => {
    const { log, lines } = recorder(0.25);
    for (let i = 0; i < 4000; i++) log!(info(200, i));
    // Binomial(4000, 0.25): mean 1000, sd 27; the bounds are 10 sd away.
    expect(lines().length).to.be.within(730, 1270);
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
