import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { spawnGateway, startBackend, type SpawnedGateway, type TestBackend } from '../support/gateway.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';
import { ensureChromium, launchChromium } from '../support/chromium.js';

/** Where the screenshot goes (git-ignored); docs/dashboard.png is a committed copy for the README. */
const SCREENSHOT = join('test', 'artifacts', 'dashboard.png');

const REGIONS = [
  { name: 'eu-west', jurisdiction: 'EU', provider: 'cloud-a', location: 'Frankfurt' },
  { name: 'us-east', jurisdiction: 'US', provider: 'cloud-a', location: 'Virginia' },
  { name: 'eu-north', jurisdiction: 'EU', provider: 'cloud-b', location: 'Stockholm' },
];

function manifests(upstream: string): string {
  const regions = REGIONS.map(
    (r) => `apiVersion: waymark/v1\nkind: Region\nmetadata: { name: ${r.name} }\nspec: { jurisdiction: ${r.jurisdiction}, provider: ${r.provider}, location: ${r.location} }\n`,
  );
  const service = (name: string, placement: string, regions: string[], extra = '') =>
    `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  basePath: /${name}/v1\n  placement: ${placement}\n${extra}  deployments:\n${regions.map((r) => `    - { region: ${r}, upstreams: ["${upstream}/${name}"] }`).join('\n')}\n`;
  return [
    ...regions,
    service('hr', 'pinned', ['eu-west', 'eu-north'], '  jurisdictions: [EU]\n'),
    service('catalog', 'regional', ['eu-west', 'us-east']),
    service('search', 'global', ['eu-west']),
    service('crm', 'regional', ['us-east', 'eu-north']),
  ].join('---\n');
}

describe('dashboard in a real browser (Chromium through playwright-core)', function () {
  this.timeout(120_000);
  const ctx = useEtcd();
  let reg: TestRegistry;
  let backend: TestBackend;
  const gateways = new Map<string, SpawnedGateway>();
  let browser: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  let env: string;
  let traffic: NodeJS.Timeout | undefined;

  before(async function () {
    this.timeout(600_000);
    ensureChromium(this);
    reg = await startRegistry({
      endpoints: ctx.etcd.endpoints,
      monitor: { statusIntervalMs: 300, scrapeIntervalMs: 500, scrapeTimeoutMs: 400, viewThrottleMs: 100 },
    });
    backend = await startBackend('everything');
    env = uniqueEnv('dash');
    const applied = await apply(manifests(backend.url));
    expect(applied.status).to.equal(200);
    await Promise.all(
      REGIONS.map(async (r) => {
        gateways.set(r.name, await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: r.name, id: `gw-${r.name}`, leaseTtlSeconds: 2, extraArgs: ['--quiet'] }));
      }),
    );
    // Some traffic, so the rates have something to show.
    traffic = setInterval(() => {
      for (const [region, g] of gateways) {
        void fetch(`${g.url}/${region === 'us-east' ? 'catalog' : 'hr'}/v1/items`).then((r) => r.body?.cancel(), () => undefined);
        void fetch(`${g.url}/.well-known/topology`).then((r) => r.body?.cancel(), () => undefined);
      }
    }, 50);
    profile = mkdtempSync(join(tmpdir(), 'waymark-chromium-'));
    browser = await launchChromium(profile, 1440);
    page = browser.pages()[0] ?? (await browser.newPage());
  });

  after(async () => {
    clearInterval(traffic);
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    for (const g of gateways.values()) {
      g.kill('SIGKILL');
      await g.exited;
    }
    await backend?.close();
    await reg?.close();
  });

  function apply(yaml: string): Promise<Response> {
    return fetch(`${reg.url}/v1/environments/${env}/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': 'application/yaml' },
      body: yaml,
    });
  }

  const gatewayRow = (region: string) => page.locator(`[data-gateway="${region}/gw-${region}"]`);

  it('asks for the token once, then shows three regions grouped by provider and jurisdiction, with gateways up', async () => {
    await page.goto(`${reg.url}/`);
    await page.locator('#token-input').waitFor({ state: 'visible' });
    await page.fill('#token-input', reg.adminToken);
    await page.click('#token-submit');
    await page.locator(`#env-select:enabled option[value="${env}"]`).waitFor({ state: 'attached', timeout: 15_000 });
    await page.selectOption('#env-select', env);
    await page.locator('[data-region]').nth(2).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-region]').count()).to.equal(3);
    for (const r of REGIONS) await page.locator(`[data-gateway="${r.name}/gw-${r.name}"][data-state="up"]`).waitFor({ timeout: 20_000 });
    expect(await page.locator('[data-provider="cloud-a"] [data-jurisdiction="EU"] [data-region="eu-west"]').count()).to.equal(1);
    expect(await page.locator('[data-provider="cloud-b"] [data-region="eu-north"]').count()).to.equal(1);
    expect(await page.locator('[data-region="eu-west"] .chip.pinned').innerText()).to.include('hr').and.to.include('EU');
    expect(page.url()).not.to.include(reg.adminToken);
    expect(await page.evaluate('sessionStorage.getItem("waymark.token")')).to.equal(reg.adminToken);
    // Rates come from scraping each gateway's /metrics.
    await waitFor(async () => /[1-9][0-9.]* req\/s/.test(await gatewayRow('eu-west').innerText()), { timeoutMs: 15_000, what: 'a request rate on eu-west' });
    expect(await page.locator('#history li[data-commit-revision]').count()).to.equal(1);
    expect(await page.locator('#history').innerText()).to.include('test-admin');
  });

  it('turns a killed gateway down without a reload', async () => {
    // Page scripts are strings here: the tests compile without the DOM library.
    await page.evaluate('window.notReloaded = true');
    const victim = gateways.get('eu-north')!;
    victim.kill('SIGKILL');
    await victim.exited;
    await page.locator('[data-gateway="eu-north/gw-eu-north"][data-state="down"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('[data-region="eu-north"]').getAttribute('class')).to.include('bad');
    expect(await gatewayRow('eu-west').getAttribute('data-state')).to.equal('up');
    expect(await page.evaluate('window.notReloaded')).to.equal(true);
  });

  it('moves the revision and lists the apply when a change is applied, then keeps the token across a reload', async () => {
    const before = Number(await page.locator('#revision').getAttribute('data-revision'));
    const res = await apply(
      `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: payments }\nspec:\n  basePath: /payments/v1\n  placement: regional\n  deployments:\n    - { region: us-east, upstreams: ["${backend.url}/payments"] }\n`,
    );
    expect(res.status).to.equal(200);
    const { revision } = (await res.json()) as { revision: number };
    expect(revision).to.be.greaterThan(before);
    await waitFor(async () => Number(await page.locator('#revision').getAttribute('data-revision')) >= revision, { timeoutMs: 15_000, what: 'the revision to move' });
    await page.locator(`#history li[data-commit-revision="${revision}"]`).waitFor({ timeout: 15_000 });
    // The audit trail: the setup's apply is #1, this one #2.
    await page.locator('#audit li[data-audit-id="2"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#audit li[data-audit-id="2"]').innerText()).to.match(/#2 apply\s+by\s+test-admin\s+\(admin\)/);
    expect(await page.locator('#changes').innerText()).to.include('service payments added');
    expect(await page.locator('[data-region="us-east"] .services').innerText()).to.include('payments');
    expect(await page.evaluate('window.notReloaded')).to.equal(true);

    mkdirSync(join('test', 'artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.reload();
    await page.locator('[data-region]').nth(2).waitFor({ timeout: 15_000 });
    expect(await page.locator('#login').isHidden()).to.equal(true);
  });
});
