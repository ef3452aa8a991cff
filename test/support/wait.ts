/** Polls `probe` until it returns a truthy value (returned) or `timeoutMs` passes (throws). */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 25, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

let counter = 0;
/** A fresh environment name per test, so tests sharing one etcd never see each other. */
export function uniqueEnv(base = 'test'): string {
  counter += 1;
  return `${base}-${process.pid}-${counter}`.slice(0, 63);
}
