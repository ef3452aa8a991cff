import { InvalidArgumentError } from 'commander';
import type { Level } from 'pino';
import { LOG_LEVELS } from '../telemetry/index.js';

/** The `--log-level` option of the commands that run servers (gateway, registry). */
export const LOG_LEVEL_HELP = `lowest level logged (JSON lines on stderr): ${LOG_LEVELS.join(', ')}`;

export function parseLogLevel(value: string): Level {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`use one of ${LOG_LEVELS.join(', ')}`);
  return value as Level;
}
