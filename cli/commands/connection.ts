import type { Command } from 'commander';
import { isValidName } from '../../topology/index.js';
import { AdminClient } from '../admin-client.js';
import { OUTPUT_FORMATS, UsageError, type OutputFormat } from '../output.js';

/** Where client commands find the registry when neither --registry nor WAYMARK_REGISTRY is set. */
export const DEFAULT_REGISTRY_URL = 'http://127.0.0.1:8080';

export interface ConnectionFlags {
  registry?: string;
  token?: string;
  ca?: string;
}

/** Adds --registry, --token and --ca to a command that calls the admin API. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--registry <url>', `admin API of the registry (env WAYMARK_REGISTRY; default ${DEFAULT_REGISTRY_URL})`)
    .option('--token <token>', 'bearer token (env WAYMARK_TOKEN, preferred: arguments are visible to other users)')
    .option('--ca <file>', 'PEM CA to trust for an https registry (env WAYMARK_CA)');
}

export function clientFrom(flags: ConnectionFlags): AdminClient {
  const token = flags.token ?? process.env.WAYMARK_TOKEN;
  const caFile = flags.ca ?? process.env.WAYMARK_CA;
  return new AdminClient({
    url: flags.registry ?? process.env.WAYMARK_REGISTRY ?? DEFAULT_REGISTRY_URL,
    ...(token ? { token } : {}),
    ...(caFile ? { caFile } : {}),
  });
}

/** --environment, else WAYMARK_ENVIRONMENT; a usage error when neither names a valid environment. */
export function environmentFrom(flag: string | undefined): string {
  const env = flag ?? process.env.WAYMARK_ENVIRONMENT;
  if (!env) throw new UsageError('no environment: give --environment ENV or set WAYMARK_ENVIRONMENT');
  if (!isValidName(env)) throw new UsageError(`environment ${JSON.stringify(env)} is not a valid name: use lowercase letters, digits and '-'`);
  return env;
}

export function outputFormat(value: string | undefined): OutputFormat {
  const v = value ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) throw new UsageError(`-o ${v}: use one of ${OUTPUT_FORMATS.join(', ')}`);
  return v as OutputFormat;
}
