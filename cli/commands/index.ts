import type { Command } from 'commander';
import { registerAgent } from './agent.js';
import { registerApply, registerDiff } from './apply.js';
import { registerEtcd } from './etcd.js';
import { registerGateway } from './gateway.js';
import { registerGet } from './get.js';
import { registerHistory, registerRollback } from './history.js';
import { registerExport, registerKeys } from './keys.js';
import { registerPolicy } from './policy.js';
import { registerPromote } from './promote.js';
import { registerRegistry } from './registry.js';
import { registerStatus } from './status.js';
import { registerToken } from './token.js';
import { registerUp } from './up.js';
import { registerWatch } from './watch.js';

/** Every command of the CLI, in the order `waymark --help` lists them; each adds its subcommands. */
export const commands: ReadonlyArray<(program: Command) => void> = [
  registerUp,
  registerRegistry,
  registerGateway,
  registerAgent,
  registerToken,
  registerApply,
  registerDiff,
  registerPromote,
  registerHistory,
  registerRollback,
  registerGet,
  registerPolicy,
  registerKeys,
  registerExport,
  registerStatus,
  registerWatch,
  registerEtcd,
];
