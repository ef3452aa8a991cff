import type { Command } from 'commander';
import { formatApplyResult, formatData, handled, UsageError } from '../output.js';
import { isValidName } from '../../topology/index.js';
import { clientFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface PromoteFlags extends ConnectionFlags {
  from: string;
  to: string;
  dryRun?: boolean;
  prune?: boolean;
  output?: string;
}

/** `waymark promote`: re-renders what was applied to one environment with another's variables. */
export function registerPromote(program: Command): void {
  withConnection(
    program
      .command('promote')
      .description("apply the manifests last applied to --from to --to, with --to's own variables")
      .requiredOption('--from <env>', 'source environment')
      .requiredOption('--to <env>', 'target environment')
      .option('--dry-run', 'only show what would change')
      .option('--prune', 'also delete what the source environment does not have')
      .option('-o, --output <format>', 'table, json or yaml', 'table'),
  ).action(
    handled(async (flags: PromoteFlags) => {
      for (const env of [flags.from, flags.to]) {
        if (!isValidName(env)) throw new UsageError(`environment ${JSON.stringify(env)} is not a valid name`);
      }
      const format = outputFormat(flags.output);
      const result = await clientFrom(flags).promote({
        from: flags.from,
        to: flags.to,
        ...(flags.dryRun ? { dryRun: true } : {}),
        ...(flags.prune ? { prune: true } : {}),
      });
      process.stdout.write(format === 'table' ? formatApplyResult(result) : formatData(result, format));
    }),
  );
}
