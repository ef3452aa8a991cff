#!/usr/bin/env node
/**
 * The `waymark` command line. Each command lives in `cli/commands/<name>.ts` and registers itself
 * on the program; exit codes: 0 ok, 1 rejected (validation, conflict, auth), 2 usage,
 * 3 registry or etcd unreachable; `status` adds its alarms, 4 to 7 (cli/alarms.ts).
 */
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';

const program = new Command('waymark')
  .description('Service discovery for smart clients across regions')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  throw err;
}
