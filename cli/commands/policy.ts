import type { Command } from 'commander';
import type { UpstreamPolicy } from '../../openapi/index.js';
import { formatData, formatTable, handled } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface PolicyFlags extends ConnectionFlags {
  environment?: string;
  output?: string;
  allow?: string[];
}

/**
 * `waymark policy get|set|unset`: an environment's upstream policy. Anyone may read it; setting
 * or removing it takes an admin token (operators get FORBIDDEN, exit 1).
 */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description("show or set an environment's upstream policy: which hosts and networks its services' upstreams may use (admins only)");
  const env = (cmd: Command) => cmd.option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)').option('-o, --output <format>', 'table, json or yaml', 'table');

  withConnection(env(policy.command('get').description('show the policy and the rules no policy can lift'))).action(
    handled(async (flags: PolicyFlags) => {
      const format = outputFormat(flags.output);
      const p = await clientFrom(flags).upstreamPolicy(environmentFrom(flags.environment));
      process.stdout.write(format === 'table' ? describe(p) : formatData(p, format));
    }),
  );

  withConnection(
    env(
      policy
        .command('set')
        .description('replace the allowlist: upstreams must match one of these host patterns or networks')
        .requiredOption('--allow <pattern>', 'a host pattern (api.example.com, *.internal.example.com) or network (10.0.0.0/8, fd00::/8); repeat it', collect, []),
    ),
  ).action(
    handled(async (flags: PolicyFlags) => {
      const format = outputFormat(flags.output);
      const p = await clientFrom(flags).setUpstreamPolicy(environmentFrom(flags.environment), flags.allow ?? []);
      process.stdout.write(format === 'table' ? describe(p) : formatData(p, format));
    }),
  );

  withConnection(env(policy.command('unset').description('remove the allowlist: any host not always refused'))).action(
    handled(async (flags: PolicyFlags) => {
      const format = outputFormat(flags.output);
      const p = await clientFrom(flags).deleteUpstreamPolicy(environmentFrom(flags.environment));
      process.stdout.write(format === 'table' ? describe(p) : formatData(p, format));
    }),
  );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function describe(p: UpstreamPolicy): string {
  const head =
    p.allow === undefined
      ? `environment ${p.environment}: no upstream policy (any host not always refused)\n`
      : `environment ${p.environment}: upstreams must match one of (set${p.updatedBy ? ` by ${p.updatedBy}` : ''}${p.updatedAt ? ` at ${p.updatedAt}` : ''}):\n${
          p.allow.length ? p.allow.map((a) => `  ${a}`).join('\n') : '  (nothing: every upstream is refused)'
        }\n`;
  const problem = p.problem ? `warning: ${p.problem}\n` : '';
  return `${head}${problem}\nalways refused, whatever the policy:\n${formatTable(['RULE', 'WHY'], p.alwaysRefused.map((r) => [r.rule, r.reason]))}`;
}
