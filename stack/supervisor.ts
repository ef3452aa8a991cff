import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { makePrivateDirSync, openPrivateAppendSync } from '../files/index.js';
import { join } from 'node:path';

export interface ChildSpec {
  /** Unique name, also the log file's name. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

export interface SupervisorEvents {
  /** A child exited without being asked to. */
  exit: [name: string, code: number | null, signal: NodeJS.Signals | null];
}

/**
 * Runs the stack's child processes, each logging to `<logDir>/<name>.log`, and stops them all:
 * SIGTERM first (gateways revoke their leases and drain), SIGKILL after a grace period.
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly children = new Map<string, { child: ChildProcess; log: WriteStream; exited: Promise<void> }>();
  private stopping = false;

  constructor(readonly logDir: string) {
    super();
    makePrivateDirSync(logDir);
  }

  start(spec: ChildSpec): ChildProcess {
    if (this.children.has(spec.name)) throw new Error(`child ${spec.name} is already running`);
    // Request logs name clients and paths: owner only, like the rest of the state folder.
    const log = createWriteStream('', { fd: openPrivateAppendSync(join(this.logDir, `${spec.name}.log`)) });
    const child = spawn(spec.command, spec.args, {
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.children.delete(spec.name);
        log.end();
        if (!this.stopping) this.emit('exit', spec.name, code, signal);
        resolve();
      });
    });
    this.children.set(spec.name, { child, log, exited });
    return child;
  }

  pid(name: string): number | undefined {
    return this.children.get(name)?.child.pid;
  }

  /** Stops one child: SIGTERM, then SIGKILL after `graceMs`. */
  async stopChild(name: string, graceMs = 5000): Promise<void> {
    const entry = this.children.get(name);
    if (!entry) return;
    entry.child.kill('SIGTERM');
    const timer = setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
    await entry.exited;
    clearTimeout(timer);
  }

  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.children.keys()].map((name) => this.stopChild(name, graceMs)));
  }
}
