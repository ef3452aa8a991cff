import type { Command } from 'commander';

/** Every command of the CLI; each module adds its own subcommands. */
export const commands: Array<(program: Command) => void> = [];
