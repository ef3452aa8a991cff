import type { Command } from 'commander';
import { isValidName } from '../../topology/index.js';
import { addToken, ROLES, type Role } from '../../registry/index.js';
import { handled, UsageError } from '../output.js';

interface TokenFlags {
  tokens?: string;
  role: string;
  environments?: string;
  name?: string;
}

/** `waymark token create`: a new random token; only its SHA-256 goes into the tokens file. */
export function registerToken(program: Command): void {
  const token = program.command('token').description('manage the admin API tokens');
  token
    .command('create')
    .description('create a token, print it once, and store only its hash in the tokens file (mode 0600)')
    .option('--tokens <file>', 'tokens file (env WAYMARK_TOKENS_FILE); created if missing')
    .requiredOption('--role <role>', ROLES.join('|'))
    .option('--environments <list>', 'comma-separated environments an operator may change')
    .option('--name <name>', 'who holds it, shown in commit records (default <role>-<hash prefix>)')
    .action(
      handled(async (flags: TokenFlags) => {
        const file = flags.tokens ?? process.env.WAYMARK_TOKENS_FILE;
        if (!file) throw new UsageError('no tokens file: give --tokens FILE or set WAYMARK_TOKENS_FILE');
        if (!(ROLES as readonly string[]).includes(flags.role)) throw new UsageError(`--role ${flags.role}: use one of ${ROLES.join(', ')}`);
        const environments = flags.environments?.split(',').map((s) => s.trim()).filter(Boolean);
        for (const env of environments ?? []) if (!isValidName(env)) throw new UsageError(`--environments: ${JSON.stringify(env)} is not a valid environment name`);
        if (flags.role === 'operator' && !environments?.length) throw new UsageError('an operator token needs --environments a,b');
        if (flags.role !== 'operator' && environments?.length) throw new UsageError(`--environments applies to operators only; a ${flags.role} token is not scoped`);
        const { token: secret, entry } = addToken(file, {
          role: flags.role as Role,
          ...(environments ? { environments } : {}),
          ...(flags.name ? { name: flags.name } : {}),
        });
        process.stderr.write(`created ${entry.role} token ${entry.name} in ${file}; it is shown once, store it now:\n`);
        process.stdout.write(`${secret}\n`);
      }),
    );
}
