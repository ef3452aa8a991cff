import type { CommitRecord, CommitView } from '../../openapi/index.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';
import { parseRecord } from '../../topology/index.js';

/**
 * The last applies of an environment, newest first, from etcd's history of `<env>/commit`: each
 * version is read at the revision just before the newer one was written. Works across registry
 * restarts and whichever registry applied; stops early where history was compacted.
 */
export async function commitHistory(conn: EtcdConnection, layout: KeyLayout, env: string, limit: number): Promise<CommitView[]> {
  const key = layout.commit(env);
  const out: CommitView[] = [];
  let at: string | undefined;
  while (out.length < limit) {
    let kv;
    try {
      const res = await conn.call((c) => (at ? c.get(key).revision(at).exec() : c.get(key).exec()));
      kv = res.kvs[0];
    } catch (err) {
      // Older revisions may be compacted: the history simply ends there.
      if (out.length > 0) break;
      throw err;
    }
    if (!kv) break;
    const revision = Number(kv.mod_revision);
    const record = commitOf(kv.value.toString());
    if (record) out.push({ ...record, revision });
    if (revision <= 1) break;
    at = String(revision - 1);
  }
  return out;
}

/** A version of the commit record; an invalid one (written by hand) is left out of the history. */
function commitOf(text: string): CommitRecord | undefined {
  const checked = parseRecord('commit', text);
  return checked.ok ? checked.value : undefined;
}
