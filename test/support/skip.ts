import type { Context } from 'mocha';

/** Skips the running test or hook, printing why where the run's output shows it (a skip never goes unexplained). */
export function skipBecause(ctx: Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
