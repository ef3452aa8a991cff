import { writeSync } from 'node:fs';

/** How a LineBuffer batches its writes. */
export interface LineBufferOptions {
  /** File descriptor written to (2: stderr). */
  fd: number;
  /** Pending lines are written once this many bytes (UTF-16 units, near enough) wait. */
  bufferBytes: number;
  /** Pending lines are written at least this often, ms. */
  flushIntervalMs: number;
  /** While the fd does not take them (a full pipe), lines beyond this many pending bytes are dropped. */
  maxPendingBytes: number;
  /**
   * Other processes write to the same fd: batches go out in pieces of at most PIPE_BUF bytes cut
   * after a line, so no line is split by another process's write. Otherwise one write per batch
   * (each pipe write costs far more than its bytes).
   */
  sharedFd: boolean;
}

/** How long, at most, the exit flush waits for a full pipe to take the last lines, ms. */
const EXIT_FLUSH_WAIT_MS = 1000;

/**
 * POSIX PIPE_BUF on Linux: a pipe takes a write of at most this many bytes whole or not at all
 * (EAGAIN), never interleaved with another process's. With `sharedFd`, batches go out in such
 * pieces, cut after a line, so processes sharing one stderr (the workers of `waymark gateway
 * --workers N`) never split each other's lines.
 */
const ATOMIC_WRITE_BYTES = 4096;

/**
 * Log lines batched into few writes, like nginx's `access_log … buffer= flush=`: a line is
 * appended to memory, and the batch goes out in one synchronous write when it reaches
 * `bufferBytes`, on every flush interval, and when the process exits (so a graceful stop or
 * `process.exit` loses none). Synchronous writes keep nothing in flight that exit could cut. A
 * full non-blocking pipe (EAGAIN) leaves the batch pending for the next flush.
 * (pino's default asynchronous destination measures every line's byte length against its whole
 * pending buffer: a few µs per line at these sizes.)
 */
export class LineBuffer {
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Part of a batch the fd did not take yet. */
  private unwritten: Buffer | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = () => this.flushAtExit();
  /** Lines dropped because the fd did not drain. */
  dropped = 0;

  constructor(private readonly options: LineBufferOptions) {
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs).unref();
    process.on('exit', this.onExit);
  }

  write(line: string): void {
    if (this.pendingBytes + line.length > this.options.maxPendingBytes) {
      this.dropped++;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= this.options.bufferBytes) this.flush();
  }

  /** Writes what is pending, as far as the fd takes it now (then calls `done`: pino's `logger.flush(cb)`). */
  flush(done?: (err?: Error) => void): void {
    if (this.pending.length > 0) {
      const batch = Buffer.from(this.pending.join(''));
      this.unwritten = this.unwritten ? Buffer.concat([this.unwritten, batch]) : batch;
      this.pending = [];
    }
    while (this.unwritten) {
      let n: number;
      try {
        n = writeSync(this.options.fd, this.options.sharedFd ? atomicPiece(this.unwritten) : this.unwritten);
      } catch (err) {
        // A full pipe: kept for the next flush. Anything else (a closed fd): nothing can be logged.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') this.unwritten = undefined;
        break;
      }
      this.unwritten = n < this.unwritten.length ? this.unwritten.subarray(n) : undefined;
    }
    this.pendingBytes = this.unwritten?.length ?? 0;
    done?.();
  }

  /** At exit there is no later flush: a full pipe is waited for, up to EXIT_FLUSH_WAIT_MS. */
  private flushAtExit(): void {
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let waited = 0; ; waited++) {
      this.flush();
      if (!this.unwritten || waited >= EXIT_FLUSH_WAIT_MS) return;
      Atomics.wait(pause, 0, 0, 1);
    }
  }

  /** Writes what is pending and stops the flush timer. */
  close(): void {
    this.flush();
    clearInterval(this.timer);
    process.off('exit', this.onExit);
  }
}

/** The first whole lines of `batch` that fit in one atomic write (a longer line alone: it cannot be atomic). */
function atomicPiece(batch: Buffer): Buffer {
  if (batch.length <= ATOMIC_WRITE_BYTES) return batch;
  const cut = batch.lastIndexOf(0x0a, ATOMIC_WRITE_BYTES - 1);
  if (cut >= 0) return batch.subarray(0, cut + 1);
  const end = batch.indexOf(0x0a);
  return end < 0 ? batch : batch.subarray(0, end + 1);
}
