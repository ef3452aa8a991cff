import type { ChildProcess } from 'node:child_process';
import type { Server, Socket } from 'node:net';
import type { RootHookObject } from 'mocha';

/**
 * mocha runs without `exit: true`, so whatever a test leaves running (a server, a socket, a
 * child process, a timer) keeps the run from ending. Rather than hang, a run still alive this
 * long after its last test names what holds it and fails. `WAYMARK_LEAK_GRACE_MS` changes how long
 * (test/unit/leak-check.test.ts runs a leaking suite with a short one).
 */
export const LEAK_GRACE_MS = Number(process.env.WAYMARK_LEAK_GRACE_MS) || 15_000;

interface NodeHandles {
  _getActiveHandles(): unknown[];
}

/** One line per handle that keeps the event loop alive (stdio excepted), saying what it is. */
export function liveHandles(): string[] {
  const handles = (process as unknown as NodeHandles)._getActiveHandles();
  const out: string[] = [];
  for (const h of handles) {
    if (h === process.stdout || h === process.stderr || h === process.stdin) continue;
    const refed = (h as { hasRef?: () => boolean }).hasRef;
    if (typeof refed === 'function' && !refed.call(h)) continue;
    out.push(describe(h));
  }
  return out;
}

function describe(h: unknown): string {
  const name = (h as { constructor?: { name?: string } }).constructor?.name ?? typeof h;
  if (name === 'Socket' || name === 'TLSSocket') {
    const s = h as Socket;
    return `${name} ${s.localAddress}:${s.localPort} -> ${s.remoteAddress}:${s.remotePort}`;
  }
  if (name === 'Server') {
    const a = (h as Server).address();
    return `Server ${typeof a === 'object' && a ? `${a.address}:${a.port}` : String(a)}`;
  }
  if (name === 'ChildProcess') {
    const c = h as ChildProcess;
    return `ChildProcess ${c.pid} ${c.spawnargs.join(' ').slice(0, 200)}`;
  }
  if (name === 'Timeout') {
    const t = h as { _idleTimeout?: number; _onTimeout?: () => void };
    return `Timeout ${t._idleTimeout} ms: ${String(t._onTimeout).replace(/\s+/g, ' ').slice(0, 160)}`;
  }
  return name;
}

export const mochaHooks: RootHookObject = {
  afterAll() {
    // Unref'd: a run that stopped everything it started ends before this fires.
    setTimeout(() => {
      const live = liveHandles();
      process.stderr.write(`\nmocha is still running ${LEAK_GRACE_MS / 1000} s after the last test: a test did not stop what it started:\n${live.map((l) => `  ${l}`).join('\n') || '  (no handle: a pending request?)'}\n`);
      // mocha sets the exit code to its failure count in an `exit` listener; this one runs after it.
      process.once('exit', () => {
        process.exitCode = 1;
      });
      process.exit(1);
    }, LEAK_GRACE_MS).unref();
  },
};
