import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { demoUrl } from '../../stack/guide.js';
import { buildBrowserBundle, BROWSER_BUNDLE } from '../../scripts/build-browser.js';
import { startStackProcess, type RunningStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';
import { ensureChromium, launchChromium } from '../support/chromium.js';


/**
 * The browser demo of `npm start` in Debian's Chromium (playwright-core): the registry's /demo
 * page runs the SDK's browser bundle against the stack's prod gateways from us-east. Each service
 * must be answered by the right region (hr only in the EU), and when us-east's gateway is
 * SIGKILLed the page must fail over, with no error in its console but the refused connections
 * to the killed gateway that Chromium itself logs.
 */
describe('e2e: the browser demo of the stack (Chromium)', function () {
  this.timeout(180_000);
  let stack: RunningStack | undefined;
  let browser: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  const consoleErrors: ConsoleMessage[] = [];
  const pageErrors: Error[] = [];

  before(async function () {
    this.timeout(600_000);
    ensureChromium(this);
    // The registry serves the bundle `npm run build` makes; built here too when run on its own.
    const bundle = await buildBrowserBundle();
    mkdirSync('dist/browser', { recursive: true });
    writeFileSync(BROWSER_BUNDLE, bundle.code);
    stack = await startStackProcess();
    profile = mkdtempSync(join(tmpdir(), 'waymark-chromium-'));
    browser = await launchChromium(profile, 1280);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m);
    });
    page.on('pageerror', (e) => pageErrors.push(e));
  });

  after(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (stack) expect(await stack.stop()).to.equal(0);
  });

  const regionOf = (service: string) => page.locator(`tr[data-service="${service}"][data-ok="true"]`).getAttribute('data-region', { timeout: 1000 }).catch(() => null);

  it('calls every service from us-east and shows the region that answered', async () => {
    const prod = stack!.description.environments.prod!;
    const url = demoUrl(stack!.description.registry.url, prod.gateways.filter((g) => !g.dispatch).map((g) => g.url), 'us-east', 'prod');
    expect(stack!.output()).to.include(`demo       ${demoUrl(stack!.description.registry.url, prod.gateways.filter((g) => !g.dispatch).map((g) => g.url), 'eu-west', 'prod')}`);
    await page.goto(`${url}&intervalMs=250`);
    await page.locator('#status[data-status="running"]').waitFor({ timeout: 30_000 });
    await waitFor(async () => (await page.locator('tr[data-ok="true"]').count()) === 5, { what: 'every service to answer', timeoutMs: 30_000 });
    expect(await regionOf('catalog')).to.equal('us-east');
    expect(await regionOf('pricing')).to.equal('us-east');
    // Pinned to the EU: never served from us-east.
    expect(await regionOf('hr')).to.equal('eu-west');
    expect(await page.locator('tr[data-service="catalog"] td[data-field="gateway"]').textContent()).to.equal('gw-us-east');
    expect(await page.textContent('#environment')).to.equal('prod');
    expect(consoleErrors.map((m) => m.text())).to.deep.equal([]);
    expect(pageErrors.map((e) => e.message)).to.deep.equal([]);
  });

  it('fails over when us-east’s gateway is SIGKILLed, with nothing in the console but the refused connections', async () => {
    const killed = stack!.gateway('prod', 'gw-us-east').url;
    const killedAt = Date.now();
    await stack!.killGateway('prod', 'gw-us-east');
    // catalog has no failover list: the other serving regions by name; pricing's list says eu-west.
    await waitFor(async () => ['ap-south', 'eu-west'].includes((await regionOf('catalog')) ?? ''), { what: 'catalog to be answered elsewhere', timeoutMs: 30_000, intervalMs: 50 });
    const catalogMs = Date.now() - killedAt;
    await waitFor(async () => (await regionOf('pricing')) === 'eu-west', { what: 'pricing to fail over to eu-west', timeoutMs: 30_000 });
    expect(await regionOf('hr')).to.equal('eu-west');
    const failovers = Number(await page.locator('tr[data-service="catalog"] td[data-field="failovers"]').textContent());
    expect(failovers).to.be.at.least(1);
    expect(await page.locator('#events li', { hasText: 'failover catalog: gw-us-east' }).count()).to.be.at.least(1);
    const unexpected = consoleErrors.filter((m) => !(m.text().includes('net::ERR_CONNECTION_REFUSED') && m.location().url.startsWith(killed)));
    expect(unexpected.map((m) => `${m.text()} (${m.location().url})`)).to.deep.equal([]);
    expect(pageErrors.map((e) => e.message)).to.deep.equal([]);
    console.log(`      browser failover: catalog answered from ${await regionOf('catalog')} ${catalogMs} ms after the SIGKILL (calls every 250 ms); ${failovers} failover(s); ${consoleErrors.length} refused-connection console line(s)`);
  });
});
