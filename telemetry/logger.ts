import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import { LineBuffer } from './line-buffer.js';

/** How the CLIs log. Every default is in LOGGER_DEFAULTS. */
export interface LoggerOptions {
  /** Component name put on every line (`gateway`, `registry`). */
  name: string;
  /** Lowest level written. Default `info`. */
  level?: Level;
  /**
   * Where lines go. Default stderr (stdout stays for what a command prints), batched: see
   * `bufferBytes` and `flushIntervalMs`.
   */
  destination?: DestinationStream;
  /**
   * Lines wait in memory until this many bytes are pending, then go out in one write (like
   * nginx's `access_log … buffer=`): one syscall per ~200 request lines instead of one per line.
   * Each write into a pipe costs far more than its bytes (waking the reader): at a CLI gateway's
   * 30 000 discovery 304/s, 64 KiB batches measured up to ~5 µs less CPU per request than 8 KiB.
   * 0 writes every line at once, synchronously. Default 65536.
   */
  bufferBytes?: number;
  /** Pending lines are written at least this often, ms (nginx's `flush=`). Default 100. */
  flushIntervalMs?: number;
  /** Fields put on every line (environment, region, gateway id…). */
  base?: Record<string, string>;
  /**
   * Other processes write to the same stderr (the workers of `waymark gateway --workers N`):
   * batches then go out in whole-line pieces a pipe never interleaves (see LineBuffer's
   * `sharedFd`). Default false: one write per batch.
   */
  shared?: boolean;
}

export const LOGGER_DEFAULTS = { level: 'info' as Level, bufferBytes: 65536, flushIntervalMs: 100, shared: false } as const;

/**
 * While stderr does not drain (a stuck log collector), lines beyond this many pending bytes are
 * dropped rather than held: the gateway keeps serving with bounded memory.
 */
export const MAX_PENDING_LOG_BYTES = 16 * 1024 * 1024;

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/**
 * Paths censored wherever they appear in a logged object. Waymark never logs headers or tokens on
 * purpose; this is the guard against one slipping in through an error or a record.
 */
export const REDACTED_PATHS = [
  'authorization',
  'token',
  'password',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  '*.token',
  '*.password',
];

/**
 * A pino logger writing JSON lines: `time` as ISO 8601, `level` as its name, an `event` field
 * naming what happened, secrets redacted. The library modules stay quiet and emit events; the
 * CLIs turn them into lines with this. Lines are batched (see LineBuffer): written when the
 * batch is full, on every flush interval, and when the process exits, so a graceful stop or
 * `process.exit` loses none.
 */
export function createLogger(options: LoggerOptions): Logger {
  const bufferBytes = options.bufferBytes ?? LOGGER_DEFAULTS.bufferBytes;
  return pino(
    {
      name: options.name,
      level: options.level ?? LOGGER_DEFAULTS.level,
      base: { pid: process.pid, ...options.base },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination ??
      (bufferBytes > 0
        ? new LineBuffer({
            fd: 2,
            bufferBytes,
            flushIntervalMs: options.flushIntervalMs ?? LOGGER_DEFAULTS.flushIntervalMs,
            maxPendingBytes: MAX_PENDING_LOG_BYTES,
            sharedFd: options.shared ?? LOGGER_DEFAULTS.shared,
          })
        : pino.destination({ fd: 2, sync: true })),
  );
}

let lastMs = 0;
let lastTime = '';
/** pino's isoTime, the string reused within a millisecond: a busy gateway writes several lines per ms. */
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/**
 * A writer of one line of `logger` at info level for a hot path: `members`, JSON object members
 * the caller serialized (each `,"key":value`), framed as pino frames a line (level, time, the
 * logger's bindings, `msg`) and written to the logger's destination. It skips pino's per-field
 * walk, serializers and redaction, most of a line's cost: only for lines of fixed,
 * flat fields none of which is a redacted path, such as the gateway's per-request line.
 * Undefined when the logger's level leaves info out.
 */
export function infoLineWriter(logger: Logger, msg: string): ((members: string) => void) | undefined {
  if (!logger.isLevelEnabled('info')) return undefined;
  // pino's own symbols for a logger's destination and serialized bindings (pino.symbols, public).
  const internals = logger as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as DestinationStream | undefined;
  const bindings = internals[pino.symbols.chindingsSym];
  if (typeof stream?.write !== 'function' || typeof bindings !== 'string') throw new TypeError('infoLineWriter needs a pino logger (its destination and bindings were not found)');
  const end = `,"msg":${JSON.stringify(msg)}}\n`;
  return (members) => {
    stream.write(`{"level":"info"${isoTime()}${bindings}${members}${end}`);
  };
}
