import type { Watcher } from 'etcd3';

/** How long a watch cancellation may wait for etcd before it is abandoned. */
export const WATCH_CANCEL_TIMEOUT_MS = 1000;

/**
 * Cancels an etcd watcher without hanging: a cancellation waits for etcd's answer, which a frozen
 * or black-holed etcd never sends. Events of an abandoned watcher must be ignored by its owner.
 */
export async function cancelWatcher(watcher: Watcher, timeoutMs = WATCH_CANCEL_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    watcher.cancel().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}
