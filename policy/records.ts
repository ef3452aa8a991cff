import { UpstreamAllowlist } from './upstream-rules.js';

/**
 * The etcd values that carry the upstream policy, read by the registry and by every gateway:
 *
 * - `<prefix>/_policy/upstreams/<env>`: an environment's policy, written by admins only
 *   (`StoredUpstreamPolicy`); absent means the default (any host not always refused);
 * - `<prefix>/_policy/registries/<id>`: a running registry's admin address (`RegistryAddress`),
 *   under its lease, so gateways refuse it too.
 */

export interface StoredUpstreamPolicy {
  environment: string;
  /** Host patterns and networks an upstream must match (see UpstreamAllowlist). */
  allow: string[];
  updatedAt?: string;
  /** Name of the admin token that set it. */
  updatedBy?: string;
}

/** Where a registry's admin API listens, as it announces itself to gateways. */
export interface RegistryAddress {
  id: string;
  /** Its base URL. */
  url: string;
  /** `host:port` of every address it answers on (each interface's when bound to a wildcard). */
  addresses: string[];
  startedAt: string;
}

/**
 * A stored policy and its compiled allowlist. A value that cannot be read (hand-edited) fails
 * closed: an empty allowlist, which refuses every upstream until an admin sets the policy again.
 */
export function readStoredPolicy(text: string): { policy?: StoredUpstreamPolicy; allowlist: UpstreamAllowlist; problem?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = value as Partial<StoredUpstreamPolicy> | undefined;
  const parsed = v && typeof v === 'object' && Array.isArray(v.allow) ? UpstreamAllowlist.parse(v.allow) : undefined;
  if (!v || !parsed?.allowlist) {
    return { allowlist: UpstreamAllowlist.parse([]).allowlist!, problem: 'the stored upstream policy cannot be read: every upstream is refused until an admin sets it again' };
  }
  return { policy: v as StoredUpstreamPolicy, allowlist: parsed.allowlist };
}

/** A registry address record, or undefined when unusable. */
export function readRegistryAddress(text: string): RegistryAddress | undefined {
  try {
    const v = JSON.parse(text) as Partial<RegistryAddress>;
    if (v && typeof v.url === 'string' && Array.isArray(v.addresses) && v.addresses.every((a) => typeof a === 'string')) return v as RegistryAddress;
  } catch {
    // Unreadable: skipped; the registry rewrites it with its lease.
  }
  return undefined;
}
