import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The supervisor's end of the reaper (stack/reaper-main.ts): a child process that outlives
 * `waymark up` only to stop what it left behind. Every child pid and file handed to it is
 * stopped or removed when `waymark up` dies in a way it cannot clean up after (SIGKILL, a crash);
 * `close()` after a clean stop tells it there is nothing left.
 */
export class Reaper {
  private readonly child: ChildProcess;
  private closed = false;

  constructor(graceMs = 5000) {
    this.child = spawn(process.execPath, [...reaperCommand(), String(graceMs)], { stdio: ['pipe', 'ignore', 'inherit'] });
    // The pipe's end is the signal: never let an EPIPE (reaper gone) end `waymark up`.
    this.child.stdin?.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stop this process if `waymark up` dies first. */
  watch(pid: number | undefined): void {
    if (pid) this.send(`kill ${pid}`);
  }

  /** The process exited: its pid may be reused, so it is not signalled later. */
  forget(pid: number | undefined): void {
    if (pid) this.send(`forget ${pid}`);
  }

  /** Remove this file if `waymark up` dies first. */
  remove(file: string): void {
    this.send(`remove ${file}`);
  }

  /** A clean stop: nothing is left to reap; the reaper exits. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = this.child.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end('clear\n');
    await exited;
  }

  private send(line: string): void {
    if (!this.closed) this.child.stdin?.write(`${line}\n`);
  }
}

/** This build's reaper: compiled JavaScript, or the TypeScript source via tsx. */
function reaperCommand(): string[] {
  const js = fileURLToPath(new URL('./reaper-main.js', import.meta.url));
  if (existsSync(js)) return [js];
  return ['--import', 'tsx', fileURLToPath(new URL('./reaper-main.ts', import.meta.url))];
}
