import type { Command } from 'commander';
import type { InternalTopology } from '../../openapi/index.js';
import { escapeControls } from '../escape.js';
import { formatData, formatTable, handled, UsageError } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

const KINDS = ['regions', 'services', 'gateways', 'topology', 'environments'] as const;
type Kind = (typeof KINDS)[number];

interface GetFlags extends ConnectionFlags {
  environment?: string;
  output?: string;
}

/** `waymark get`: what the registry holds, as a table or as JSON/YAML (upstreams included). */
export function registerGet(program: Command): void {
  withConnection(
    program
      .command('get')
      .description('show the regions, services, gateways or whole topology of an environment, or every environment')
      .argument('<what>', KINDS.join('|'))
      .option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)')
      .option('-o, --output <format>', 'table, json or yaml', 'table'),
  ).action(
    handled(async (what: string, flags: GetFlags) => {
      if (!(KINDS as readonly string[]).includes(what)) throw new UsageError(`cannot get ${JSON.stringify(what)}: use one of ${KINDS.join(', ')}`);
      const format = outputFormat(flags.output);
      const client = clientFrom(flags);
      if (what === 'environments') {
        const envs = await client.environments();
        process.stdout.write(
          format === 'table'
            ? formatTable(
                ['NAME', 'REVISION', 'REGIONS', 'SERVICES', 'GATEWAYS', 'LAST APPLY'],
                envs.map((e) => [e.name, String(e.revision), String(e.regions), String(e.services), String(e.gateways), e.lastCommit ? `${e.lastCommit.at} ${e.lastCommit.operation ?? ''} by ${e.lastCommit.by ?? '?'}` : '-']),
              )
            : formatData(envs, format),
        );
        return;
      }
      const topology = await client.topology(environmentFrom(flags.environment));
      const data = what === 'topology' ? topology : topology[what as Exclude<Kind, 'topology' | 'environments'>];
      process.stdout.write(format === 'table' ? tables(topology, what as Kind) : formatData(data, format));
    }),
  );
}

function tables(t: InternalTopology, what: Kind): string {
  const parts: string[] = [];
  if (what === 'regions' || what === 'topology') {
    parts.push(
      formatTable(
        ['REGION', 'JURISDICTION', 'PROVIDER', 'LOCATION', 'GATEWAYS'],
        t.regions.map((r) => [r.name, r.jurisdiction, r.provider ?? '-', r.location ?? '-', String(t.gateways.filter((g) => g.region === r.name).length)]),
      ),
    );
  }
  if (what === 'services' || what === 'topology') {
    parts.push(
      formatTable(
        ['SERVICE', 'BASE PATH', 'PLACEMENT', 'JURISDICTIONS', 'DEPLOYMENTS'],
        t.services.map((s) => [
          s.name,
          s.basePath,
          s.placement,
          s.jurisdictions?.join(',') ?? '-',
          s.deployments.map((d) => `${d.region}(${d.upstreams.length})`).join(','),
        ]),
      ),
    );
  }
  if (what === 'gateways' || what === 'topology') {
    parts.push(
      formatTable(
        ['REGION', 'GATEWAY', 'URL', 'STATUS', 'STARTED'],
        t.gateways.map((g) => [g.region, g.id, g.url, g.status, g.startedAt]),
      ),
    );
  }
  const header = what === 'topology' ? `environment ${escapeControls(t.environment)} at revision ${t.revision}\n\n` : '';
  return header + parts.join('\n');
}
