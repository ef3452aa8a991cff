import { parseRecord } from '../topology/index.js';
import type { KeyLayout } from './keys.js';

/** A key's name and mod revision, as a (keys-only) range returns them. */
export interface KeyRevision {
  key: string;
  modRevision: number;
}

/**
 * The environment's revision (README "Revisions"), the one number every surface shows: the etcd
 * revision of the last change to what its document publishes, i.e. a put or delete of a region,
 * service or gateway registration, or of the commit record that every apply writes in the same
 * transaction as its puts and deletes.
 *
 * A range read sees the mod revisions of the keys that exist, not deletions. Apply deletions are
 * covered by the commit record; a gateway's registration that went away (lease expired or
 * revoked) leaves nothing, but the gateways that watched it go report a revision at least that
 * of the deletion. So the revision is the newest of the content keys' mod revisions and of the
 * revisions the environment's gateways report having applied (never above `readRevision`, the
 * etcd revision of the read). Every gateway's applied revision is at most the true one, so this
 * never overshoots, and a gateway that starts after a deletion adopts what its peers saw.
 */
export function environmentRevision(
  layout: KeyLayout,
  env: string,
  keys: readonly KeyRevision[],
  reported: readonly number[],
  readRevision: number,
): number {
  let max = 0;
  for (const k of keys) {
    const kind = layout.parse(env, k.key)?.kind;
    if ((kind === 'region' || kind === 'service' || kind === 'gateway' || kind === 'commit') && k.modRevision > max) max = k.modRevision;
  }
  for (const r of reported) if (r > max && r <= readRevision) max = r;
  return max;
}

/** The applied revisions of an environment's gateway reports (under `layout.reports(env)`); invalid reports are left out. */
export function reportedRevisions(layout: KeyLayout, env: string, kvs: ReadonlyArray<{ key: string; value: string }>): number[] {
  const prefix = layout.reports(env);
  const out: number[] = [];
  for (const { key, value } of kvs) {
    if (!key.startsWith(prefix)) continue;
    const parts = key.slice(prefix.length).split('/');
    if (parts.length !== 2) continue;
    const checked = parseRecord('report', value, { region: parts[0], name: parts[1] });
    if (checked.ok) out.push(checked.value.appliedRevision);
  }
  return out;
}
