import type { GenericAbortSignal } from 'axios';
import { expect } from 'chai';
import { AttemptSignal } from '../../client-sdk/attempt-signal.js';
import { waitFor } from '../support/wait.js';

describe('SDK attempt signal (what the adapters see instead of an AbortController)', () => {
  const signals: AttemptSignal[] = [];
  const signal = (caller: GenericAbortSignal | undefined, timeoutMs: number) => {
    const s = new AttemptSignal(caller, timeoutMs);
    signals.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of signals.splice(0)) s.dispose();
  });

  it('aborts when its deadline passes: timedOut, an AbortError reason, each listener once with an abort event', async () => {
    const s = signal(undefined, 5);
    const events: { type: string; self: unknown }[] = [];
    s.addEventListener('abort', function (this: AttemptSignal, event) {
      events.push({ type: event.type, self: this });
    });
    await waitFor(() => s.aborted, { what: 'the deadline to abort the signal' });
    expect(s.timedOut).to.equal(true);
    expect(s.reason).to.be.instanceOf(DOMException).and.to.include({ name: 'AbortError' });
    expect(events).to.deep.equal([{ type: 'abort', self: s }]);
  });

  it('aborts when the caller aborts (not timedOut), and at once when the caller had aborted already', () => {
    const caller = new AbortController();
    const s = signal(caller.signal, 60_000);
    let calls = 0;
    s.addEventListener('abort', () => calls++);
    caller.abort();
    caller.abort();
    expect(s.aborted).to.equal(true);
    expect(s.timedOut).to.equal(false);
    expect(calls).to.equal(1);
    expect(signal(caller.signal, 60_000).aborted).to.equal(true);
  });

  it('calls no listener that was removed, and ignores events other than abort', async () => {
    const s = signal(undefined, 1);
    let removed = 0;
    let other = 0;
    const listener = () => removed++;
    s.addEventListener('abort', listener);
    s.addEventListener('other', () => other++);
    s.removeEventListener('abort', listener);
    await waitFor(() => s.aborted, { what: 'the deadline to abort the signal' });
    expect({ removed, other }).to.deep.equal({ removed: 0, other: 0 });
  });

  it('once disposed, its deadline does not abort it, and it leaves no listener on the caller', async () => {
    // A caller's signal that counts its listeners (axios accepts any GenericAbortSignal).
    const listeners = new Set<() => void>();
    const caller: GenericAbortSignal = {
      aborted: false,
      addEventListener: (_type: string, listener: () => void) => listeners.add(listener),
      removeEventListener: (_type: string, listener: () => void) => listeners.delete(listener),
    };
    const disposed = signal(caller, 1);
    expect(listeners.size).to.equal(1);
    disposed.dispose();
    expect(listeners.size).to.equal(0);
    // Timers of one duration fire in the order they were set: once this later one has, the
    // disposed one would have too.
    const control = signal(undefined, 1);
    await waitFor(() => control.aborted, { what: 'the control signal to abort' });
    expect(disposed.aborted).to.equal(false);
    expect(disposed.timedOut).to.equal(false);
  });
});
