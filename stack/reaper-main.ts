/**
 * The stack's reaper: a small process `waymark up` starts first, whose stdin is a pipe from
 * `waymark up`. Each line names something to clean up: `kill <pid>` (a child: etcd, a gateway),
 * `forget <pid>` (it exited), `remove <file>` (the lock, stack.json), `clear` (a clean stop:
 * nothing left to do). When the pipe closes, `waymark up` is gone, however it died (even
 * SIGKILL, which it cannot catch): the reaper then
 * SIGTERMs every child still listed (gateways revoke their leases), SIGKILLs those still alive
 * after the grace period, removes the files and exits. See stack/reaper.ts for the other end.
 *
 * Run as `node reaper-main.js <graceMs>`.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

const graceMs = Number(process.argv[2] ?? 5000);
/** `waymark up`: a file is removed only while it still names it (a later stack may own it by then). */
const owner = process.ppid;
const pids = new Set<number>();
const files = new Set<string>();

// Ctrl-C reaches the whole foreground process group: the reaper waits for its pipe to close instead.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.on('SIGHUP', () => undefined);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const space = line.indexOf(' ');
  const verb = space < 0 ? line : line.slice(0, space);
  const arg = line.slice(space + 1);
  if (verb === 'kill') pids.add(Number(arg));
  else if (verb === 'forget') pids.delete(Number(arg));
  else if (verb === 'remove') files.add(arg);
  else if (line === 'clear') {
    pids.clear();
    files.clear();
  }
});
lines.on('close', () => void reap());

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function reap(): Promise<void> {
  for (const pid of pids) {
    // A frozen (SIGSTOPped) child would never act on SIGTERM.
    signal(pid, 'SIGCONT');
    signal(pid, 'SIGTERM');
  }
  const deadline = Date.now() + graceMs;
  while ([...pids].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGKILL');
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (new RegExp(`\\b${owner}\\b`).test(text)) rmSync(file, { force: true });
  }
  process.exit(0);
}
