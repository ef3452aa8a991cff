import { spawnSync } from 'node:child_process';
import type { Context } from 'mocha';
import { chromium, type BrowserContext } from 'playwright-core';
import { skipBecause } from './skip.js';

/** Debian's Chromium, which scripts/ensure-chromium.sh installs. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Installs Chromium when missing (scripts/ensure-chromium.sh), or skips the suite saying why. */
export function ensureChromium(ctx: Context): void {
  const ensure = spawnSync('bash', ['scripts/ensure-chromium.sh'], { encoding: 'utf8', timeout: 540_000 });
  if (ensure.status !== 0) {
    skipBecause(ctx, `the browser test: Chromium cannot be installed here (${(ensure.stderr || ensure.error?.message || '').trim()})`);
  }
}

/** Headless Chromium with its own profile directory and this viewport width (900 px high). */
export function launchChromium(profile: string, width: number): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width, height: 900 } });
}
