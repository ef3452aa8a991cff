import type { Command } from 'commander';
import { rename, writeFile } from 'node:fs/promises';
import type { BundlePayload, SigningKeys } from '../../openapi/index.js';
import { formatData, formatTable, handled } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface KeysFlags extends ConnectionFlags {
  environment?: string;
  output?: string;
}

/**
 * `waymark keys create|rotate|activate|list`: an environment's topology signing keys. Anyone may list the
 * public keys (what SDKs are given as `trustedKeys`); creating or rotating takes an admin token.
 */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description("an environment's topology signing keys (Ed25519): the private keys stay in the registry's --keys-dir");
  const env = (cmd: Command) => cmd.option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)').option('-o, --output <format>', 'table, json or yaml', 'table');

  withConnection(env(keys.command('list').description('the public keys (JWK), the active one first'))).action(
    handled(async (flags: KeysFlags) => {
      const format = outputFormat(flags.output);
      print(await clientFrom(flags).signingKeys(environmentFrom(flags.environment)), format);
    }),
  );
  for (const [operation, help] of [
    ['create', 'create the first key and sign the topology now; every later apply is signed'],
    ['rotate', 'publish a next key for clients to trust (it does not sign yet); then add it to trustedKeys and run activate'],
    ['activate', 'sign with the next key from now on and re-sign the topology (the old key stays published as retired)'],
  ] as const) {
    withConnection(env(keys.command(operation).description(help))).action(
      handled(async (flags: KeysFlags) => {
        const format = outputFormat(flags.output);
        print(await clientFrom(flags).changeSigningKey(environmentFrom(flags.environment), operation), format);
      }),
    );
  }
}

function print(keys: SigningKeys, format: ReturnType<typeof outputFormat>): void {
  if (format !== 'table') {
    process.stdout.write(formatData(keys, format));
    return;
  }
  if (keys.keys.length === 0) {
    process.stdout.write(`environment ${keys.environment} is not signed (create a key with: waymark keys create -e ${keys.environment})\n`);
    return;
  }
  process.stdout.write(
    formatTable(['KID', 'STATUS', 'CREATED', 'JWK (for trustedKeys)'], keys.keys.map((k) => [k.kid, k.status, k.createdAt, JSON.stringify({ kty: k.kty, crv: k.crv, x: k.x, kid: k.kid })])),
  );
}

interface ExportFlags extends ConnectionFlags {
  environment?: string;
  output: string;
  region?: string;
}

/**
 * `waymark export -e prod -o prod.bundle.json [--region eu-west]`: the signed bundle for gateways
 * that cannot reach etcd (`waymark gateway --bundle`). Written atomically, mode 0600: it holds
 * upstream addresses.
 */
export function registerExport(program: Command): void {
  withConnection(
    program
      .command('export')
      .description('write the signed bundle of an environment for gateways without etcd (admins only; it holds upstreams)')
      .option('-e, --environment <env>', 'environment (env WAYMARK_ENVIRONMENT)')
      .requiredOption('-o, --output <file>', 'bundle file to write (replaced atomically, mode 0600)')
      .option('--region <region>', "only this region's upstreams"),
  ).action(
    handled(async (flags: ExportFlags) => {
      const env = environmentFrom(flags.environment);
      const bundle = await clientFrom(flags).exportBundle(env, flags.region);
      const tmp = `${flags.output}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(bundle)}\n`, { mode: 0o600 });
      await rename(tmp, flags.output);
      const payload = JSON.parse(Buffer.from(bundle.payload, 'base64url').toString()) as BundlePayload;
      process.stdout.write(`exported ${env} (signed revision ${payload.revision}, ${payload.services.length} services) to ${flags.output}\n`);
    }),
  );
}
