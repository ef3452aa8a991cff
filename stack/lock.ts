import { readFileSync, rmSync } from 'node:fs';
import { makePrivateDirSync, writePrivateFileSync } from '../files/index.js';
import { dirname } from 'node:path';
import { WaymarkError } from '../topology/index.js';

export class StackAlreadyRunningError extends WaymarkError {
  constructor(
    readonly pid: number,
    lockFile: string,
  ) {
    super(
      'STACK_RUNNING',
      `a Waymark stack is already running (pid ${pid}, see ${lockFile.replace(/lock$/, 'json')}): stop it with Ctrl-C in its terminal or \`kill ${pid}\`, or start another with --state-dir DIR --base-port N`,
    );
  }
}

/**
 * A pid file that keeps a second `waymark up` from starting on the same state folder: it names
 * the running one instead of failing later on a busy port. A file left by a dead process is taken over.
 */
export class StackLock {
  private held = false;

  constructor(readonly file: string) {}

  acquire(): void {
    const other = this.owner();
    if (other !== undefined && other !== process.pid) throw new StackAlreadyRunningError(other, this.file);
    makePrivateDirSync(dirname(this.file));
    writePrivateFileSync(this.file, `${process.pid}\n`);
    this.held = true;
  }

  release(): void {
    if (this.held && this.owner() === process.pid) rmSync(this.file, { force: true });
    this.held = false;
  }

  /** The pid of a live process holding the lock, if any. */
  owner(): number | undefined {
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(this.file, 'utf8'), 10);
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }
}
