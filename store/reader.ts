import type { IKeyValue } from 'etcd3';
import type { EtcdConnection } from './etcd.js';
import type { KeyLayout } from './keys.js';
import { TopologyRecords, type InvalidRecord } from './records.js';
import type { TopologySnapshot } from './snapshot.js';

/** The marker of a multi-transaction apply, stored at `<env>/pending` while it runs. */
export interface PendingApply {
  id: string;
  startedAt: string;
  by?: string;
  /** Lease of the registry doing the apply: once it is gone, the apply is abandoned. */
  lease?: string;
  /** The revision before the marker was written: the last complete state. */
  baseRevision: number;
  /** The marker's own mod revision, which guards every later transaction of the apply. */
  markerRevision: number;
}

export interface EnvironmentRead {
  snapshot: TopologySnapshot;
  /** The etcd revision of the read (the snapshot's revision). */
  revision: number;
  /** Set when an apply was in progress: the snapshot then shows the state before it. */
  pending?: PendingApply;
}

/**
 * The keys a topology reader needs: everything of the environment except `source/`, which can be
 * megabytes. In byte order `commit < environment < gateways/ < pending < regions/ < services/
 * < source/`, so `[<env>/, <env>/source/)` is one range.
 */
export function topologyRange(layout: KeyLayout, env: string): { start: string; end: string } {
  return { start: layout.environment(env), end: layout.sources(env) };
}

/**
 * Reads a whole environment at one revision. While a multi-transaction apply is in progress,
 * the records it owns (regions, services, commit) are read as of the revision before it began,
 * so a reader never sees half of an apply; gateways are read as they are now.
 */
export async function readEnvironment(
  conn: EtcdConnection,
  layout: KeyLayout,
  env: string,
  onInvalid?: (record: InvalidRecord) => void,
): Promise<EnvironmentRead> {
  const range = topologyRange(layout, env);
  const res = await conn.call((c) => c.getAll().inRange(range).exec());
  const revision = Number(res.header.revision);
  const pendingKv = res.kvs.find((kv) => kv.key.toString() === layout.pending(env));
  const records = new TopologyRecords(layout, env, onInvalid);
  if (!pendingKv) {
    for (const kv of res.kvs) records.apply(kv.key.toString(), kv.value.toString());
    return { snapshot: records.freeze(revision), revision };
  }
  const pending = parsePending(pendingKv);
  const before = await conn.call((c) => c.getAll().inRange(range).revision(pending.baseRevision).exec());
  for (const kv of before.kvs) {
    if (layout.parse(env, kv.key.toString())?.kind !== 'gateway') records.apply(kv.key.toString(), kv.value.toString());
  }
  for (const kv of res.kvs) {
    if (layout.parse(env, kv.key.toString())?.kind === 'gateway') records.apply(kv.key.toString(), kv.value.toString());
  }
  return { snapshot: records.freeze(revision), revision, pending };
}

export function parsePending(kv: IKeyValue): PendingApply {
  let body: Partial<PendingApply> = {};
  try {
    body = JSON.parse(kv.value.toString()) as Partial<PendingApply>;
  } catch {
    // A marker is honoured even when unreadable: its revisions alone make it safe.
  }
  return {
    id: String(body.id ?? 'unknown'),
    startedAt: String(body.startedAt ?? ''),
    ...(body.by ? { by: body.by } : {}),
    ...(body.lease ? { lease: body.lease } : {}),
    baseRevision: Number(kv.create_revision) - 1,
    markerRevision: Number(kv.mod_revision),
  };
}
