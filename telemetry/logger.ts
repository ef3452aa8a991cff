import { pino, type DestinationStream, type Level, type Logger } from 'pino';

/** How the CLIs log. Every default is in LOGGER_DEFAULTS. */
export interface LoggerOptions {
  /** Component name put on every line (`gateway`, `registry`). */
  name: string;
  /** Lowest level written. Default `info`. */
  level?: Level;
  /** Where lines go. Default stderr (stdout stays for what a command prints). */
  destination?: DestinationStream;
  /** Fields put on every line (environment, region, gateway id…). */
  base?: Record<string, string>;
}

export const LOGGER_DEFAULTS = { level: 'info' as Level } as const;

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
 * CLIs turn them into lines with this.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? LOGGER_DEFAULTS.level,
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
