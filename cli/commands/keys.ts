import type { Command } from 'commander';
import type { SigningKeys } from '../../openapi/index.js';
import { formatData, formatTable, handled } from '../output.js';
import { clientFrom, environmentFrom, outputFormat, withConnection, type ConnectionFlags } from './connection.js';

interface KeysFlags extends ConnectionFlags {
  environment?: string;
  output?: string;
}

/**
 * `waymark keys create|rotate|list`: an environment's topology signing keys. Anyone may list the
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
    ['rotate', 'make a new key the signing key and re-sign the topology (the old key stays published as retired)'],
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
