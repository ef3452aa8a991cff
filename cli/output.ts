import { stringify } from 'yaml';
import { WaymarkError } from '../topology/index.js';
import type { ApplyResult, ErrorDetail } from '../openapi/index.js';
import { ValidationError } from '../registry/manifest/errors.js';
import { AdminApiError, RegistryUnreachableError } from './admin-client.js';
import { escapeControls } from './escape.js';

/** Exit codes of every command: 0 ok, 1 rejected (validation, conflict, auth), 2 usage, 3 unreachable. */
export const EXIT = { ok: 0, rejected: 1, usage: 2, unreachable: 3 } as const;

export type OutputFormat = 'table' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** A mistake in how the command was called (exit 2). */
export class UsageError extends WaymarkError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

type Paint = (text: string) => string;
/**
 * ANSI colours, only when the stream is a terminal and NO_COLOR is unset. The text painted is
 * escaped (see escapeControls): painted text holds no control characters but the colours'.
 */
export function palette(stream: NodeJS.WriteStream): { red: Paint; green: Paint; yellow: Paint; dim: Paint; bold: Paint } {
  const on = stream.isTTY === true && !process.env.NO_COLOR;
  const code = (n: number, m: number): Paint => (t) => (on ? `\u001b[${n}m${escapeControls(t)}\u001b[${m}m` : escapeControls(t));
  return { red: code(31, 39), green: code(32, 39), yellow: code(33, 39), dim: code(2, 22), bold: code(1, 22) };
}

/** Structured output for scripts. */
export function formatData(data: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data);
}

/** The diff of an apply, promotion or dry run, as people read it. */
export function formatApplyResult(r: ApplyResult, stream: NodeJS.WriteStream = process.stdout): string {
  const c = palette(stream);
  const lines: string[] = [];
  const ref = (x: { kind: string; name: string }) => `${x.kind}/${x.name}`;
  for (const x of r.created) lines.push(c.green(`+ ${ref(x)}`));
  for (const x of r.updated) {
    lines.push(c.yellow(`~ ${ref(x)}`));
    for (const ch of x.changes) {
      const from = 'from' in ch ? JSON.stringify(ch.from) : undefined;
      const to = 'to' in ch ? JSON.stringify(ch.to) : undefined;
      lines.push(escapeControls(`    ${ch.field}${from !== undefined || to !== undefined ? `: ${from ?? '(none)'} → ${to ?? '(none)'}` : ' (changed)'}`));
    }
  }
  for (const x of r.deleted) lines.push(c.red(`- ${ref(x)}`));
  const s = r.summary;
  const counts = `${s.created} created, ${s.updated} updated, ${s.deleted} deleted, ${s.unchanged} unchanged`;
  if (r.dryRun) lines.push(c.bold(`environment ${r.environment}: ${counts} (dry run: nothing was written)`));
  else if (!r.changed) lines.push(c.bold(`environment ${r.environment}: no change (${s.unchanged} unchanged), nothing written`));
  else lines.push(c.bold(`environment ${r.environment}: ${counts}; revision ${r.revision}`));
  return `${lines.join('\n')}\n`;
}

/** A table cell: text, or text to paint once it is aligned. */
export type Cell = string | { text: string; paint: Paint };

/**
 * Columns aligned with spaces; the header in bold on a terminal. Every cell is escaped (see
 * escapeControls) before it is measured, so no record can add a row or move the cursor.
 */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly Cell[]>, stream: NodeJS.WriteStream = process.stdout): string {
  const cells = rows.map((r) => r.map((cell) => (typeof cell === 'string' ? { text: escapeControls(cell) } : { text: escapeControls(cell.text), paint: cell.paint })));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.text.length ?? 0)));
  const line = (row: ReadonlyArray<{ text: string; paint?: Paint }>) =>
    row
      .map((cell, i) => {
        const padded = i === row.length - 1 ? cell.text : cell.text + ' '.repeat(widths[i] - cell.text.length);
        // Painting the padded text with a paint that escapes again is harmless: it holds no control character.
        return cell.paint ? cell.paint(padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return `${[palette(stream).bold(line(header.map((text) => ({ text })))), ...cells.map(line)].join('\n')}\n`;
}

function formatDetail(d: ErrorDetail): string {
  const where = d.file ? `${d.file}${d.line !== undefined ? `:${d.line}:${d.column ?? 1}` : ''}` : '';
  const doc = d.document !== undefined ? ` (document ${d.document})` : '';
  const what = [d.resource, d.field].filter(Boolean).join(' ');
  return escapeControls(`  ${where}${doc}${what ? ` ${what}` : ''}: ${d.message}`);
}

/** Prints an error for people (on stderr) and returns the exit code it means. */
export function reportError(err: unknown, stream: NodeJS.WriteStream = process.stderr): number {
  const c = palette(stream);
  if (err instanceof AdminApiError) {
    stream.write(`${c.red('error')}: ${escapeControls(`${err.code}: ${err.message}`)}\n`);
    for (const d of err.details) stream.write(`${formatDetail(d)}\n`);
    return err.status === 503 ? EXIT.unreachable : EXIT.rejected;
  }
  if (err instanceof RegistryUnreachableError) {
    stream.write(`${c.red('error')}: ${escapeControls(err.message)}\n`);
    return EXIT.unreachable;
  }
  if (err instanceof UsageError) {
    stream.write(`${c.red('error')}: ${escapeControls(err.message)}\n`);
    return EXIT.usage;
  }
  if (err instanceof WaymarkError) {
    stream.write(`${c.red('error')}: ${escapeControls(`${err.code}: ${err.message}`)}\n`);
    if (err instanceof ValidationError) for (const d of err.details) stream.write(`${formatDetail(d)}\n`);
    return /^ETCD_/.test(err.code) ? EXIT.unreachable : EXIT.rejected;
  }
  stream.write(`${c.red('error')}: ${escapeControls(err instanceof Error ? err.message : String(err))}\n`);
  return EXIT.rejected;
}

/** Wraps a command's action: errors are reported and become the process's exit code. */
export function handled<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}
