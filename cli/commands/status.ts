import type { Command } from 'commander';
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
      process.stdout.write(`environment ${escapeControls(status.environment)}: content revision ${status.revision} (etcd ${status.etcdRevision ?? '?'}), ${status.gateways.length} gateway(s)\n`);
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
