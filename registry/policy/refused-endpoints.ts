import { endpointOf, readRegistryAddress, type RefusedEndpoint } from '../../policy/index.js';
import { readKeys } from '../apply/environments.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';

/**
 * What no upstream may reach, as the registry sees it at apply time: the etcd endpoints it uses,
 * its own admin address, every registry's announced address, and every registered gateway of
 * every environment (an upstream pointing at another environment's gateway loops just the same).
 * Names are not resolved here.
 */
export async function readRefusedEndpoints(conn: EtcdConnection, layout: KeyLayout, ownAddresses: readonly string[]): Promise<RefusedEndpoint[]> {
  const out: RefusedEndpoint[] = [];
  const add = (e: RefusedEndpoint | undefined) => e && out.push(e);
  for (const e of conn.endpoints) add(endpointOf('etcd', e));
  for (const a of ownAddresses) add(endpointOf('registry', a));
  const registries = await conn.call((c) => c.getAll().prefix(`${layout.policies()}registries/`).strings());
  for (const text of Object.values(registries)) {
    const r = readRegistryAddress(text);
    if (!r) continue;
    add(endpointOf('registry', r.url));
    for (const a of r.addresses) add(endpointOf('registry', a));
  }
  // Gateways have no index across environments: one keys-only scan finds them (cheap even at 10 000 services).
  const { keys } = await readKeys(conn, `${layout.prefix}/`, `${layout.prefix}0`);
  const envs = new Set<string>();
  for (const k of keys) {
    const env = layout.environmentOf(k.key);
    if (env && layout.parse(env, k.key)?.kind === 'gateway') envs.add(env);
  }
  for (const env of envs) {
    const records = await conn.call((c) => c.getAll().prefix(layout.gateways(env)).strings());
    for (const text of Object.values(records)) {
      try {
        const url = (JSON.parse(text) as { url?: unknown }).url;
        if (typeof url === 'string') add(endpointOf('gateway', url));
      } catch {
        // Not a registration Waymark can read: readers skip it too.
      }
    }
  }
  return out;
}
