import type { Bundle, BundlePayload, ServiceDefinition } from '../../openapi/index.js';
import { parseSignedStatement } from '../../topology/index.js';
import type { EtcdConnection } from '../../store/etcd.js';
import { ConflictError } from '../../store/errors.js';
import type { KeyLayout } from '../../store/keys.js';
import { NotFoundError } from '../errors.js';
import { assertEnvironment } from '../apply/environments.js';
import { readState } from '../apply/state.js';
import { SigningKeyMissingError, SigningUnavailableError } from './errors.js';
import type { KeyStore } from './keystore.js';

export const BUNDLE_TYPE = 'waymark-bundle+jws';

/**
 * The environment's bundle for gateways without etcd: its signed topology and the records a
 * gateway proxies from (upstreams included, of one region when `region` is given), read at one
 * revision and signed as a whole with the active key (flattened JWS JSON serialization).
 */
export async function exportBundle(
  conn: EtcdConnection,
  layout: KeyLayout,
  store: KeyStore | undefined,
  env: string,
  region?: string,
): Promise<Bundle> {
  await assertEnvironment(conn, layout, env);
  const state = await readState(conn, layout, env);
  const active = state.signingKeys?.keys.find((k) => k.status === 'active');
  if (!active) throw new ConflictError(`environment ${env} is not signed: create its key first (waymark keys create), a bundle is only as good as its signature`);
  if (!store) throw new SigningUnavailableError('this registry runs without a key directory (--keys-dir): it cannot sign a bundle');
  if (region !== undefined && !state.regions.has(region)) {
    throw new NotFoundError(`environment ${env} has no region ${region}: known regions are ${[...state.regions.keys()].sort().join(', ') || '(none)'}`);
  }
  // The statement as of the same revision as the records, so both describe one state.
  const kv = (await conn.call((c) => c.get(layout.signed(env)).revision(String(state.revision)).exec())).kvs[0];
  const statement = kv ? parseSignedStatement(kv.value.toString()) : undefined;
  if (!statement?.ok) throw new ConflictError(`environment ${env} has no readable signed topology: rotate its key (waymark keys rotate) to sign it again`);
  const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const services: ServiceDefinition[] = [...state.services.values()].sort(byName).map((s) =>
    region === undefined ? s : { ...s, deployments: s.deployments.filter((d) => d.region === region) },
  );
  const payload: BundlePayload = {
    environment: env,
    revision: statement.value.payload.revision,
    exportedAt: new Date().toISOString(),
    ...(region !== undefined ? { region } : {}),
    topology: statement.value.jws,
    regions: [...state.regions.values()].sort(byName),
    services,
  };
  const protectedHeader = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: active.kid, typ: BUNDLE_TYPE })).toString('base64url');
  const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = store.sign(env, active.kid, `${protectedHeader}.${encoded}`);
  if (!signature) throw new SigningKeyMissingError(env, active.kid);
  return { protected: protectedHeader, payload: encoded, signature: Buffer.from(signature).toString('base64url') };
}
