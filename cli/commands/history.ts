import type { Command } from 'commander';
import type { AuditEntry, AuditRecord } from '../../openapi/index.js';
import { escapeControls } from '../escape.js';
import { formatApplyResult, formatData, formatTable, handled, UsageError } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface HistoryFlags extends ConnectionFlags {
  environment?: string;
  show?: string;
  output?: string;
}

interface RollbackFlags extends ConnectionFlags {
  environment?: string;
  to: string;
  dryRun?: boolean;
  output?: string;
}

/** `waymark history`: the audit trail of an environment; `--show ID` prints one record's full diff. */
export function registerHistory(program: Command): void {
  withConnection(
    program
      .command('history')
      .description('list the applies, promotions and rollbacks of an environment (newest first); --show ID prints one with its full diff')
      .option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)')
      .option('--show <id>', 'print this record with its full diff')
      .option('-o, --output <format>', 'table, json or yaml', 'table'),
  ).action(
    handled(async (flags: HistoryFlags) => {
      const format = outputFormat(flags.output);
      const env = environmentFrom(flags.environment);
      const client = clientFrom(flags);
      if (flags.show !== undefined) {
        const entry = await client.historyEntry(env, recordId('--show', flags.show));
        process.stdout.write(format === 'table' ? formatEntry(entry) : formatData(entry, format));
        return;
      }
      const list = await client.history(env);
      if (format !== 'table') {
        process.stdout.write(formatData(list, format));
        return;
      }
      if (list.records.length === 0) {
        process.stdout.write(`environment ${escapeControls(env)} has no audit records yet\n`);
        return;
      }
      process.stdout.write(
        formatTable(
          ['ID', 'AT', 'OPERATION', 'BY', 'ROLE', 'REVISION', 'CHANGES', 'SOURCE'],
          list.records.map((r) => [String(r.id), r.at, operation(r), r.by.name, r.by.role, String(r.revision), counts(r), r.sourceHash.slice(0, 12)]),
        ),
      );
    }),
  );
}

/** `waymark rollback`: re-applies the source of an audit record with the environment's current variables. */
export function registerRollback(program: Command): void {
  withConnection(
    program
      .command('rollback')
      .description("re-apply the source recorded by a history record, with the environment's current variables (validated, guarded and audited like an apply)")
      .option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)')
      .requiredOption('--to <id>', 'the history record to go back to (see `waymark history`)')
      .option('--dry-run', 'only show what would change')
      .option('-o, --output <format>', 'table, json or yaml', 'table'),
  ).action(
    handled(async (flags: RollbackFlags) => {
      const format = outputFormat(flags.output);
      const env = environmentFrom(flags.environment);
      const result = await clientFrom(flags).rollback(env, recordId('--to', flags.to), flags.dryRun ? { dryRun: true } : {});
      process.stdout.write(format === 'table' ? formatApplyResult(result) : formatData(result, format));
    }),
  );
}

function recordId(flag: string, value: string): number {
  const id = Number(value);
  if (!/^\d{1,15}$/.test(value) || !Number.isSafeInteger(id) || id < 1) {
    throw new UsageError(`${flag} ${JSON.stringify(value)}: give the ID of a history record (a positive integer; see \`waymark history\`)`);
  }
  return id;
}

function operation(r: AuditRecord): string {
  if (r.operation === 'promote' && r.from) return `promote from ${r.from}`;
  if (r.operation === 'rollback' && r.rollbackOf) return `rollback to ${r.rollbackOf}`;
  return r.operation;
}

function counts(r: AuditRecord): string {
  return `+${r.summary.created} ~${r.summary.updated} -${r.summary.deleted}`;
}

function formatEntry(e: AuditEntry): string {
  const head = [
    `record ${e.id} of ${e.at}: ${operation(e)} by ${e.by.name} (${e.by.role}), revision ${e.revision}`,
    `source ${e.sourceHash}${e.files && e.files.length > 0 ? ` from ${e.files.join(', ')}` : ''}`,
  ].map((l) => escapeControls(l));
  const diff = formatApplyResult({
    environment: '',
    dryRun: false,
    changed: true,
    revision: e.revision,
    created: e.created,
    updated: e.updated,
    deleted: e.deleted,
    unchanged: [],
    summary: e.summary,
  }).split('\n');
  // The last line of an apply's output is its summary, which the header already gives.
  const body = diff.slice(0, -2);
  const tail = `${e.summary.created} created, ${e.summary.updated} updated, ${e.summary.deleted} deleted, ${e.summary.unchanged} unchanged${e.truncated ? ' (diff truncated: too large to keep whole)' : ''}`;
  return `${[...head, ...body, tail].join('\n')}\n`;
}
