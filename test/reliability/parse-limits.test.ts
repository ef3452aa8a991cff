import { expect } from 'chai';
import { Agent, request } from 'node:http';
import type { ApiError } from '../../openapi/index.js';
import { applyYaml, adminCall } from '../support/admin-api.js';
import { rawRequest } from '../support/raw-http.js';
import { useRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv } from '../support/wait.js';

/** A region whose spec has `keys` keys, one per line (the shape that blocked the registry for 37 s). */
function wideRegion(keys: number): string {
  const lines = ['apiVersion: waymark/v1', 'kind: Region', 'metadata:', '  name: wide', 'spec:', '  jurisdiction: EU'];
  for (let i = 0; i < keys; i++) lines.push(`  k${i}: v`);
  return `${lines.join('\n')}\n`;
}

/** The same as one JSON object (a flow mapping for the YAML parser). */
function wideJson(keys: number): string {
  const spec: Record<string, string> = { jurisdiction: 'EU' };
  for (let i = 0; i < keys; i++) spec[`k${i}`] = 'v';
  return JSON.stringify({ apiVersion: 'waymark/v1', kind: 'Region', metadata: { name: 'wide' }, spec });
}

/**
 * Polls GET /healthz every ~20 ms on one kept-alive connection until stopped; returns the
 * latencies. The registry answers it on the event loop that parses applies, so a parse that
 * blocks the loop shows here.
 */
function pollHealth(url: string): { stop(): Promise<{ latencies: number[]; errors: string[] }> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  const errors: string[] = [];
  let running = true;
  // A failed poll counts with the time it took (a blocked registry may drop the connection).
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = request(`${url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - started);
          resolve();
        });
      });
      req.on('error', (err) => {
        latencies.push(performance.now() - started);
        errors.push(err.message);
        resolve();
      });
      req.end();
    });
  const loop = (async () => {
    while (running) {
      await one();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      return { latencies, errors };
    },
  };
}

describe('parse limits: hostile applies are refused before parsing, the registry stays responsive', function () {
  this.timeout(120_000);
  const ctx = useEtcd();
  const reg = useRegistry(ctx);

  for (const [keys, body, type] of [
    ['60 000', wideRegion(60_000), 'application/yaml'],
    ['200 000', wideRegion(200_000), 'application/yaml'],
    ['60 000', wideJson(60_000), 'application/json'],
  ] as const) {
    const name = `${keys} keys of ${type === 'application/json' ? 'JSON' : 'YAML'} (${Math.round(body.length / 1024)} KiB)`;
    it(`answers an apply of ${name} with 422 at once while /healthz stays under 100 ms`, async () => {
      const env = uniqueEnv('wide');
      const health = pollHealth(reg.url);
      // Let the poller start on its connection first.
      await new Promise((r) => setTimeout(r, 60));
      const answer = await adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, { token: reg.adminToken, body, type, timeoutMs: 100_000 }).catch(
        async (err: Error) => {
          const { latencies } = await health.stop();
          throw new Error(`the apply failed (${err.message}); /healthz worst ${Math.round(Math.max(...latencies))} ms`);
        },
      );
      const { latencies, errors } = await health.stop();
      const worst = Math.max(...latencies);
      console.log(`      ${name}: ${answer.status} in ${answer.ms} ms; /healthz worst ${worst.toFixed(1)} ms over ${latencies.length} polls`);
      expect(errors).to.deep.equal([]);
      expect([answer.status, answer.body.code]).to.deep.equal([422, 'VALIDATION_FAILED']);
      expect(answer.body.details![0]).to.include({ file: '(request body)', document: 0, line: type === 'application/json' ? 1 : 6 });
      expect(answer.body.details![0].message).to.match(/more than 10000 keys/);
      expect(answer.ms).to.be.below(2000);
      expect(worst).to.be.below(100);
    });
  }

  it('refuses a body announced larger than the limit before reading it (413), and still parses a normal apply', async () => {
    const env = uniqueEnv('big');
    const reply = await rawRequest(
      reg.url,
      `POST /v1/environments/${env}/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${reg.adminToken}\r\nContent-Type: application/yaml\r\nContent-Length: ${1024 * 1024 * 1024}\r\n\r\n`,
      { untilHead: true },
    );
    expect(reply.status).to.equal(413);
    const ok = await applyYaml(reg.url, reg.adminToken, env, wideRegion(0));
    expect(ok.status).to.equal(200);
  });
});
