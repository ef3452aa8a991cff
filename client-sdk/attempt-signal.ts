import type { GenericAbortSignal } from 'axios';

type AbortListener = (this: AttemptSignal, event: { readonly type: 'abort' }) => void;

const ABORT_EVENT = Object.freeze({ type: 'abort' as const });

/**
 * The abort signal of one attempt: aborted when its deadline passes or when the caller's own
 * signal aborts. It is the part of AbortSignal that axios's adapters use (axios types it
 * `GenericAbortSignal`: `aborted`, `reason`, `addEventListener`/`removeEventListener` of
 * `abort`): an AbortController per attempt (an EventTarget, and garbage the collector tracks)
 * cost more CPU than all the rest of the SDK's work on a call. Call `dispose()` when the
 * attempt is over.
 */
export class AttemptSignal implements GenericAbortSignal {
  aborted = false;
  reason: unknown = undefined;
  /** The attempt's deadline passed (rather than the caller aborting). */
  timedOut = false;
  private listeners: AbortListener[] | undefined;
  private readonly timer: ReturnType<typeof setTimeout>;
  private caller: GenericAbortSignal | undefined;
  private onCallerAbort: (() => void) | undefined;

  constructor(caller: GenericAbortSignal | undefined, timeoutMs: number) {
    this.timer = setTimeout(expire, timeoutMs, this);
    if (caller?.aborted) this.abort();
    else if (caller?.addEventListener) {
      this.caller = caller;
      this.onCallerAbort = () => this.abort();
      caller.addEventListener('abort', this.onCallerAbort);
    }
  }

  addEventListener(type: string, listener: AbortListener): void {
    if (type === 'abort' && !this.aborted) (this.listeners ??= []).push(listener);
  }

  removeEventListener(type: string, listener: AbortListener): void {
    if (type !== 'abort' || !this.listeners) return;
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    // What AbortController.abort() gives: fetch's adapter reads it.
    this.reason = new DOMException('This operation was aborted', 'AbortError');
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) {
      try {
        listener.call(this, ABORT_EVENT);
      } catch (err) {
        // As EventTarget does: the others still run, the error is reported as uncaught.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Stops the deadline and the caller's signal from aborting it. */
  dispose(): void {
    clearTimeout(this.timer);
    if (this.caller && this.onCallerAbort) this.caller.removeEventListener?.('abort', this.onCallerAbort);
    this.caller = undefined;
    this.onCallerAbort = undefined;
    this.listeners = undefined;
  }
}

// A function of the module rather than a closure per attempt.
function expire(signal: AttemptSignal): void {
  signal.timedOut = true;
  signal.abort();
}
