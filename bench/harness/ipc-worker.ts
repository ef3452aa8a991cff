import { fork, type ChildProcess } from 'node:child_process';

/** What a worker answers to a job: its result, or why it failed. */
export type WorkerReply<R> = { type: 'result'; id: number; result: R } | { type: 'error'; id: number; message: string };

/** A job as sent: the caller's fields plus the id its reply carries. */
export type WorkerJob<J> = J & { type: 'run'; id: number };

/**
 * A long-lived child process (a TypeScript file run with tsx) that takes jobs over IPC, one reply
 * each. Started on first use; an interrupted job kills it (the next job starts a new one).
 */
export class IpcWorker<J extends object, R> {
  private child: ChildProcess | undefined;
  private nextId = 1;

  constructor(
    private readonly file: string,
    /** Names the worker in errors. */
    private readonly what: string,
  ) {}

  request(job: J, signal?: AbortSignal): Promise<R> {
    signal?.throwIfAborted();
    const child = this.process();
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const cleanup = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        signal?.removeEventListener('abort', onAbort);
      };
      const onMessage = (reply: WorkerReply<R>) => {
        if (reply.id !== id) return;
        cleanup();
        if (reply.type === 'error') reject(new Error(`${this.what}: ${reply.message}`));
        else resolve(reply.result);
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        cleanup();
        reject(signal?.aborted ? signal.reason : new Error(`${this.what} exited (code ${code}, signal ${sig}) during a job`));
      };
      const onAbort = () => {
        if (this.child === child) this.child = undefined;
        child.kill('SIGKILL');
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      child.send({ ...job, type: 'run', id } satisfies WorkerJob<J>);
    });
  }

  /** Ends the worker (it also exits by itself when this process goes away). */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  private process(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const child = fork(this.file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    this.child = child;
    return child;
  }
}
