import { expect } from 'chai';
import type { ApiError } from '../../openapi/index.js';
import { adminCall, applyYaml, openEvents, type HeldEvents } from '../support/admin-api.js';
import { regionYaml } from '../support/manifests.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** Environment monitors (dashboards, `waymark watch`) cost an etcd watch, polls and scrapes each: bounded. */
describe('registry environment monitors are bounded (real etcd)', function () {
  const ctx = useEtcd();
  let reg: TestRegistry;
  const held: HeldEvents[] = [];
  before(async () => {
    reg = await startRegistry({ endpoints: ctx.etcd.endpoints, maxMonitors: 2, monitorIdleCloseMs: 300 });
  });
  afterEach(() => {
    for (const h of held.splice(0)) h.close();
  });
  after(async () => {
    await reg?.close();
  });

  const metrics = async () => (await fetch(`${reg.url}/metrics`)).text();
  /** The series of an environment's monitor (the environment's own, such as its revision, stay while it exists). */
  const seriesOf = (text: string, env: string) =>
    text.split('\n').filter((l) => /^waymark_registry_(watch_|staleness)/.test(l) && l.includes(`environment="${env}"`));
  const applied = async () => {
    const env = uniqueEnv('mon');
    expect((await applyYaml(reg.url, reg.adminToken, env, regionYaml('eu-west', 'EU'))).status).to.equal(200);
    return env;
  };

  it('answers 404 to view, status and events of unknown names, starts no monitor, and /metrics does not grow', async () => {
    const viewer = reg.token('viewer');
    const known = await applied();
    const probe = async (name: string) => {
      for (const route of ['view', 'status']) {
        const res = await adminCall<ApiError>(reg.url, 'GET', `/v1/environments/${name}/${route}`, { token: viewer });
        expect([res.status, res.body.code], `${route} of ${name}`).to.deep.equal([404, 'NOT_FOUND']);
      }
      const events = await openEvents(reg.url, viewer, name);
      held.push(events);
      expect(events.status, `events of ${name}`).to.equal(404);
      expect((JSON.parse(events.body) as ApiError).message).to.contain(name).and.to.contain(known);
    };
    await probe(uniqueEnv('nobody'));
    await metrics(); // the first scrape adds the series of /metrics itself
    const before = (await metrics()).split('\n');
    const names = Array.from({ length: 150 }, () => uniqueEnv('nobody'));
    for (const name of names) await probe(name);
    const after = await metrics();
    // Waymark's own series: the runtime's (nodejs_gc_* by GC kind, …) come and go with the process.
    const grown = after.split('\n').filter((l) => l.startsWith('waymark_') && !before.some((b) => b.replace(/ .*$/, '') === l.replace(/ .*$/, '')));
    expect(grown, 'new series in /metrics').to.deep.equal([]);
    for (const name of names) expect(after).not.to.contain(name);
  });

  it('shares one monitor per environment, caps them (503 TOO_MANY_MONITORS), closes idle ones and removes their series', async () => {
    const [a, b, c] = [await applied(), await applied(), await applied()];
    // Two streams on a share one monitor; b takes the second (and last) slot.
    for (const env of [a, a, b]) {
      const events = await openEvents(reg.url, reg.adminToken, env);
      held.push(events);
      expect(events.status, env).to.equal(200);
    }
    const refused = await adminCall<ApiError>(reg.url, 'GET', `/v1/environments/${c}/view`, { token: reg.adminToken });
    expect([refused.status, refused.body.code]).to.deep.equal([503, 'TOO_MANY_MONITORS']);
    expect(refused.headers.get('retry-after')).to.match(/^\d+$/);
    // A record the monitor of a must skip gives a's monitor a series of its own.
    await ctx.conn.client.put(ctx.layout.region(a, 'broken')).value('{"not": "a region"}');
    await waitFor(async () => seriesOf(await metrics(), a).some((l) => l.startsWith('waymark_registry_watch_warnings_total')), { what: "a's warning series" });
    for (const h of held.splice(0)) h.close();
    // Idle monitors close: their slots free up and their series go.
    await waitFor(async () => (await adminCall(reg.url, 'GET', `/v1/environments/${c}/view`, { token: reg.adminToken })).status === 200, {
      what: 'a slot for c once a and b are idle',
    });
    await waitFor(async () => seriesOf(await metrics(), a).length === 0 && seriesOf(await metrics(), b).length === 0, { what: "a's and b's series to go" });
  });
});
