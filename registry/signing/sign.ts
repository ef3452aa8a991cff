import type { RegionDefinition, ServiceDefinition, SigningKey, SigningKeys } from '../../openapi/index.js';
import { compactJws, signedTopologyOf, signingInputOf } from '../../topology/index.js';
import type { EtcdConnection } from '../../store/etcd.js';
import { ConflictError } from '../../store/errors.js';
import type { KeyLayout } from '../../store/keys.js';
import type { Mutation } from '../../store/writer.js';
import { assertEnvironment } from '../apply/environments.js';
import { readState } from '../apply/state.js';
import { parseSigningKeys } from './published.js';
import { SigningKeyMissingError, SigningUnavailableError } from './errors.js';
import type { KeyStore } from './keystore.js';

/**
 * The write of an environment's signed topology for the regions and services an apply leaves,
 * at `revision` (the revision the apply was computed at, plus one: strictly increasing). Undefined
 * when the environment has no published key (it is not signed). A signed environment is never
 * written unsigned: without the active key this throws.
 */
export function signedStatement(
  store: KeyStore | undefined,
  layout: KeyLayout,
  env: string,
  published: SigningKeys | undefined,
  revision: number,
  regions: Iterable<RegionDefinition>,
  services: Iterable<ServiceDefinition>,
): Extract<Mutation, { type: 'put' }> | undefined {
  const active = published?.keys.find((k) => k.status === 'active');
  if (!active) return undefined;
  if (!store) throw new SigningUnavailableError(`environment ${env} is signed, and this registry runs without a key directory (--keys-dir): it cannot sign the topology`);
  const input = signingInputOf(active.kid, signedTopologyOf(env, revision, new Date(), regions, services));
  const signature = store.sign(env, active.kid, input);
  if (!signature) throw new SigningKeyMissingError(env, active.kid);
  return { type: 'put', key: layout.signed(env), value: compactJws(input, signature) };
}

/**
 * `create` (the environment has no key yet: the key signs at once), `rotate` (a next key,
 * published for clients to trust, not signing yet) or `activate` (the next key signs, the active
 * one is retired): the key directory first, then, in one transaction guarded like an apply, the
 * public keys and, when the signing key changed, the current topology signed with it at a new
 * revision.
 */
export async function changeSigningKey(
  conn: EtcdConnection,
  layout: KeyLayout,
  store: KeyStore | undefined,
  env: string,
  operation: 'create' | 'rotate' | 'activate',
): Promise<SigningKeys> {
  if (!store) throw new SigningUnavailableError('this registry runs without a key directory (--keys-dir): it cannot hold signing keys');
  await assertEnvironment(conn, layout, env);
  const state = await readState(conn, layout, env);
  const held = state.signingKeys?.keys ?? [];
  if (operation === 'create' && held.length > 0) throw new ConflictError(`environment ${env} already has a signing key: rotate it instead (waymark keys rotate)`);
  if (operation !== 'create' && held.length === 0) throw new ConflictError(`environment ${env} has no signing key: create one first (waymark keys create)`);
  if (operation === 'activate' && !held.some((k) => k.status === 'next')) {
    throw new ConflictError(`environment ${env} has no next key to activate: run waymark keys rotate first, and give clients the new key`);
  }
  const published: SigningKeys = { environment: env, keys: store.change(env, operation) };
  const statement = operation === 'rotate' ? undefined : signedStatement(store, layout, env, published, state.revision + 1, state.regions.values(), state.services.values());
  const res = await conn.call((c) =>
    c
      .if(layout.commit(env), 'Mod', '==', state.commitRevision)
      .and(layout.pending(env), 'Create', '==', 0)
      .then(c.put(layout.signingKeys(env)).value(JSON.stringify(published)), ...(statement ? [c.put(statement.key).value(statement.value)] : []))
      .commit(),
  );
  if (!res.succeeded) throw new ConflictError(`environment ${env} changed while its keys were being changed: run the command again`);
  return published;
}

/** The public keys of an environment as published in etcd (none when it is not signed). */
export async function listSigningKeys(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<SigningKeys> {
  await assertEnvironment(conn, layout, env);
  const kv = (await conn.call((c) => c.get(layout.signingKeys(env)).exec())).kvs[0];
  const keys: SigningKey[] = (kv && parseSigningKeys(kv.value.toString(), env)?.keys) || [];
  return { environment: env, keys };
}
