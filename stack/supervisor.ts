import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { makePrivateDirSync, openPrivateAppendSync } from '../files/index.js';
import { join } from 'node:path';
import type { Reaper } from './reaper.js';

export interface ChildSpec {
  /** Unique name, also the log file's name. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Whether and how children that exit on their own are started again. Every default is in
 * RESTART_DEFAULTS. The delay before a restart starts at `initialDelayMs` and doubles with each
 * exit up to `maxDelayMs`; a child that ran `resetAfterMs` before exiting starts over from `initialDelayMs`.
 */
export interface RestartPolicy {
  /** Default false: a child that exits is reported, not restarted. */
  enabled?: boolean;
  /** Default 1000. */
  initialDelayMs?: number;
  /** Default 30000. */
  maxDelayMs?: number;
  /** Default 30000. */
  resetAfterMs?: number;
}

export const RESTART_DEFAULTS = { enabled: false, initialDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 30_000 } as const;

export interface SupervisorEvents {
  /** A child exited without being asked to; `restartInMs` when it is started again after that delay. */
  exit: [name: string, code: number | null, signal: NodeJS.Signals | null, restartInMs: number | undefined];
  /** A child that exited was started again. */
  restarted: [name: string, pid: number | undefined];
}

interface Running {
  child: ChildProcess;
  log: WriteStream;
  exited: Promise<void>;
}

/**
 * Runs the stack's child processes, each logging to `<logDir>/<name>.log`, and stops them all:
 * SIGTERM first (gateways revoke their leases and drain), SIGKILL after a grace period. Each
 * child is handed to the reaper while it runs, so it is stopped even if this process is SIGKILLed.
 * With a restart policy, a child that exits on its own is started again with backoff.
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly children = new Map<string, Running>();
  private readonly delays = new Map<string, number>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly restart: Required<RestartPolicy>;
  private stopping = false;

  constructor(
    readonly logDir: string,
    private readonly reaper?: Reaper,
    restart: RestartPolicy = {},
  ) {
    super();
    this.restart = { ...RESTART_DEFAULTS, ...restart };
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
    const pid = child.pid;
    this.reaper?.watch(pid);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const startedAt = Date.now();
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        // stopChild() takes a child out of the map before stopping it: still there, it exited on its own.
        const onItsOwn = this.children.get(spec.name)?.child === child;
        if (onItsOwn) this.children.delete(spec.name);
        this.reaper?.forget(pid);
        log.end();
        if (onItsOwn && !this.stopping) this.exited(spec, startedAt, code, signal);
        resolve();
      });
    });
    this.children.set(spec.name, { child, log, exited });
    return child;
  }

  pid(name: string): number | undefined {
    return this.children.get(name)?.child.pid;
  }

  /** Stops one child: SIGTERM, then SIGKILL after `graceMs`. A stopped child is not restarted. */
  async stopChild(name: string, graceMs = 5000): Promise<void> {
    clearTimeout(this.pending.get(name));
    this.pending.delete(name);
    const entry = this.children.get(name);
    if (!entry) return;
    this.children.delete(name);
    entry.child.kill('SIGTERM');
    const timer = setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
    await entry.exited;
    clearTimeout(timer);
  }

  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    await Promise.all([...this.children.keys()].map((name) => this.stopChild(name, graceMs)));
  }

  private exited(spec: ChildSpec, startedAt: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.restart.enabled) {
      this.emit('exit', spec.name, code, signal, undefined);
      return;
    }
    const ranLong = Date.now() - startedAt >= this.restart.resetAfterMs;
    const delay = ranLong ? this.restart.initialDelayMs : (this.delays.get(spec.name) ?? this.restart.initialDelayMs);
    this.delays.set(spec.name, Math.min(delay * 2, this.restart.maxDelayMs));
    this.emit('exit', spec.name, code, signal, delay);
    this.pending.set(
      spec.name,
      setTimeout(() => {
        this.pending.delete(spec.name);
        if (this.stopping) return;
        const child = this.start(spec);
        this.emit('restarted', spec.name, child.pid);
      }, delay),
    );
  }
}
