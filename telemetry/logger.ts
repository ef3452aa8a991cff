import { pino, type DestinationStream, type Level, type Logger } from 'pino';

/** How the CLIs log. Every default is in LOGGER_DEFAULTS. */
export interface LoggerOptions {
  /** Component name put on every line (`gateway`, `registry`). */
  name: string;
  /** Lowest level written. Default `info`. */
  level?: Level;
  /**
   * Where lines go. Default stderr (stdout stays for what a command prints) through an
   * asynchronous buffer: see `bufferBytes` and `flushIntervalMs`.
   */
  destination?: DestinationStream;
  /**
   * Lines wait in memory until this many bytes are pending, then go out in one write (like
   * nginx's `access_log … buffer=`): one syscall per ~50 request lines instead of one per line.
   * 0 writes every line at once, synchronously. Default 8192.
   */
  bufferBytes?: number;
  /** Pending lines are written at least this often, ms (nginx's `flush=`). Default 100. */
  flushIntervalMs?: number;
  /** Fields put on every line (environment, region, gateway id…). */
  base?: Record<string, string>;
}

export const LOGGER_DEFAULTS = { level: 'info' as Level, bufferBytes: 8192, flushIntervalMs: 100 } as const;

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
 * CLIs turn them into lines with this. Buffered lines are written on every flush interval and
 * synchronously when the process exits (pino's exit hook on its own destination), so a graceful
 * stop or `process.exit` loses none.
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
        ? pino.destination({
            fd: 2,
            sync: false,
            minLength: bufferBytes,
            maxLength: MAX_PENDING_LOG_BYTES,
            periodicFlush: options.flushIntervalMs ?? LOGGER_DEFAULTS.flushIntervalMs,
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
 * A child of `logger` that skips redaction, which is most of the cost of a line (about 16 µs of
 * 22 measured). Only for lines of fixed, flat fields none of which is a redacted path, such as
 * the gateway's per-request line: redaction works on keys, so it could change nothing there.
 */
export function unredacted(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [] } });
}
