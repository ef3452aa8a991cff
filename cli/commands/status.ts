import type { Command } from 'commander';
import type { EnvironmentStatus, InvalidRecord } from '../../openapi/index.js';
import { escapeControls } from '../escape.js';
import { formatData, formatTable, handled, palette } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface StatusFlags extends ConnectionFlags {
  environment?: string;
  output?: string;
}

/** `waymark status`: every gateway of an environment with its lease, applied revision, lag and health. */
export function registerStatus(program: Command): void {
  withConnection(
    program
      .command('status')
      .description("show each gateway of an environment: lease TTL, applied revision, lag and health")
      .option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)')
      .option('-o, --output <format>', 'table, json or yaml', 'table'),
  ).action(
    handled(async (flags: StatusFlags) => {
      const format = outputFormat(flags.output);
      const status = await clientFrom(flags).status(environmentFrom(flags.environment));
      if (format !== 'table') {
        process.stdout.write(formatData(status, format));
        return;
      }
      const c = palette(process.stdout);
      const health = (h: string) => ({ text: h, paint: h === 'healthy' ? c.green : h === 'unknown' ? c.dim : c.yellow });
      process.stdout.write(`environment ${escapeControls(status.environment)}: revision ${status.revision}, ${status.gateways.length} gateway(s)\n`);
      const invalid = invalidRecords(status);
      if (invalid.length > 0) {
        process.stdout.write(c.yellow(`${invalid.length} invalid record${invalid.length === 1 ? '' : 's'} skipped (each keeps its last valid version, if any):\n`));
        for (const r of invalid) process.stdout.write(`  ${escapeControls(r.key)} (${escapeControls(r.reason)})\n`);
      }
      if (status.gateways.length === 0) return;
      process.stdout.write(
        formatTable(
          ['REGION', 'GATEWAY', 'URL', 'STATUS', 'HEALTH', 'APPLIED', 'LAG', 'LEASE TTL'],
          status.gateways.map((g) => [
            g.region,
            g.id,
            g.url,
            g.status,
            health(g.health),
            g.appliedRevision !== undefined ? String(g.appliedRevision) : '-',
            String(g.lag),
            g.leaseTtlSeconds >= 0 ? `${g.leaseTtlSeconds}s` : 'gone',
          ]),
        ),
      );
    }),
  );
}

/** The keys skipped by the registry and by any gateway, each once. */
function invalidRecords(status: EnvironmentStatus): InvalidRecord[] {
  const byKey = new Map<string, InvalidRecord>();
  for (const r of [...(status.invalidRecords ?? []), ...status.gateways.flatMap((g) => g.invalidRecords ?? [])]) {
    if (!byKey.has(r.key)) byKey.set(r.key, r);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

