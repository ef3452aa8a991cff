import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { SourceFile } from '../admin-client.js';
import { formatApplyResult, formatData, handled, UsageError } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface ApplyFlags extends ConnectionFlags {
  filename: string[];
  environment?: string;
  dryRun?: boolean;
  prune?: boolean;
  output?: string;
}

/** `waymark apply`: sends the files as one atomic apply and prints the diff. */
export function registerApply(program: Command): void {
  withConnection(
    program
      .command('apply')
      .description('apply manifests to an environment, atomically (all or nothing)')
      .requiredOption('-f, --filename <files...>', "manifest files or directories (*.yaml, *.yml, *.json); '-' reads stdin")
      .option('-e, --environment <env>', 'target environment (env WAYMARK_ENVIRONMENT)')
      .option('--dry-run', 'only show what would change')
      .option('--prune', 'also delete regions and services of the environment that the files no longer name')
      .option('-o, --output <format>', 'table (a readable diff) or json or yaml', 'table'),
  ).action(handled(async (flags: ApplyFlags) => runApply(flags, flags.dryRun ?? false)));
}

/** `waymark diff`: the same as `apply --dry-run`. */
export function registerDiff(program: Command): void {
  withConnection(
    program
      .command('diff')
      .description('show what applying the manifests would change (a dry run)')
      .requiredOption('-f, --filename <files...>', "manifest files or directories; '-' reads stdin")
      .option('-e, --environment <env>', 'target environment (env WAYMARK_ENVIRONMENT)')
      .option('--prune', 'include the deletions an apply with --prune would make')
      .option('-o, --output <format>', 'table, json or yaml', 'table'),
  ).action(handled(async (flags: ApplyFlags) => runApply(flags, true)));
}

async function runApply(flags: ApplyFlags, dryRun: boolean): Promise<void> {
  const environment = environmentFrom(flags.environment);
  const format = outputFormat(flags.output);
  const files = readManifestFiles(flags.filename);
  const result = await clientFrom(flags).apply(environment, files, { dryRun, prune: flags.prune ?? false });
  process.stdout.write(format === 'table' ? formatApplyResult(result) : formatData(result, format));
}

/** Reads every file named (a directory contributes its manifest files, sorted by name). */
export function readManifestFiles(paths: readonly string[]): SourceFile[] {
  const out: SourceFile[] = [];
  for (const path of paths) {
    if (path === '-') {
      out.push({ file: '(stdin)', content: readFileSync(0, 'utf8') });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new UsageError(`cannot read ${path}: no such file or directory`);
    }
    const files = isDir
      ? readdirSync(path)
          .filter((f) => /\.(ya?ml|json)$/.test(f))
          .sort()
          .map((f) => join(path, f))
      : [path];
    if (isDir && files.length === 0) throw new UsageError(`directory ${path} holds no *.yaml, *.yml or *.json file`);
    for (const file of files) out.push({ file, content: readFileSync(file, 'utf8') });
  }
  return out;
}
