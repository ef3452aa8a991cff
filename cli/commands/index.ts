import type { Command } from 'commander';

/** Every command of the CLI; each module adds its own subcommands. */
export const commands: Array<(program: Command) => void> = [];
import { registerGateway } from './gateway.js'; commands.push(registerGateway);
import { registerRegistry } from './registry.js'; commands.push(registerRegistry);
import { registerToken } from './token.js'; commands.push(registerToken);
import { registerApply, registerDiff } from './apply.js'; commands.push(registerApply, registerDiff);
import { registerPromote } from './promote.js'; commands.push(registerPromote);
import { registerGet } from './get.js'; commands.push(registerGet);
import { registerStatus } from './status.js'; commands.push(registerStatus);
import { registerUp } from './up.js'; commands.push(registerUp);
import { registerWatch } from './watch.js'; commands.push(registerWatch);
