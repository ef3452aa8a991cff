import { createHash } from 'node:crypto';
import type { AuditEntry, AuditRecord, ResourceRef, ResourceUpdate } from '../../openapi/index.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';
import type { Mutation } from '../../store/writer.js';
import { NotFoundError } from '../errors.js';
import { decodeSource, SOURCE_CHUNK_CHARS, type StoredSource } from './source.js';

/** The audit trail's bounds. Every default is here. */
export interface AuditOptions {
  /** Records kept per environment: the oldest beyond this are pruned by the apply that adds one. Default 100. */
  keep?: number;
  /** Characters of the diff stored in one record; a larger diff keeps its first entries and is marked truncated. Default 64 KiB. */
  maxDiffChars?: number;
}

export const AUDIT_DEFAULTS = {
  keep: 100,
  maxDiffChars: 64 * 1024,
  /** Manifest files named per record. */
  maxFiles: 20,
} as const;

/** A record as stored: everything but its revision, which is the key's own (it is never rewritten). */
export type StoredAudit = Omit<AuditEntry, 'revision'>;

/** What an apply reads of the audit trail, at the revision its plan was computed against. */
export interface AuditState {
  lastId: number;
  records: ReadonlyArray<{ id: number; sourceHash: string }>;
  /** Stored source chunks by hash. */
  blobs: ReadonlyMap<string, readonly string[]>;
}

/** The writes of one audit record: the source chunks (any transaction), and what goes with the commit. */
export interface AuditWrites {
  sourceChunks: Mutation[];
  withCommit: Mutation[];
}

export function sourceHash(sourceText: string): string {
  return createHash('sha256').update(sourceText, 'utf8').digest('hex');
}

/** Reads the trail at `revision`: the apply's guard then also covers it (every apply rewrites `commit`). */
export async function readAuditState(conn: EtcdConnection, layout: KeyLayout, env: string, revision: number): Promise<AuditState> {
  const [recs, blobKeys] = await Promise.all([
    conn.call((c) => c.getAll().prefix(layout.auditRecords(env)).revision(String(revision)).exec()),
    conn.call((c) => c.getAll().prefix(layout.auditSources(env)).revision(String(revision)).keys()),
  ]);
  const records: Array<{ id: number; sourceHash: string }> = [];
  let lastId = 0;
  for (const kv of recs.kvs) {
    const id = idOfKey(layout, env, kv.key.toString());
    if (id === undefined) continue;
    lastId = Math.max(lastId, id);
    const stored = parseStored(kv.value.toString());
    if (stored) records.push({ id, sourceHash: stored.sourceHash });
  }
  const blobs = new Map<string, string[]>();
  const base = layout.auditSources(env);
  for (const key of blobKeys) {
    const hash = key.slice(base.length).split('/', 1)[0];
    blobs.set(hash, [...(blobs.get(hash) ?? []), key]);
  }
  return { lastId, records, blobs };
}

/**
 * The writes that append `entry` (its id is the next one) and prune the trail to `keep` records.
 * A source is written unless a record already names it (then it is complete: records are
 * written last); a source no kept record names is deleted, so chunks left by an apply that died
 * half-way do not accumulate. At most `maxDeletes` keys are deleted (they share the commit's
 * transaction), oldest records first: after `keep` was lowered, the trail shrinks over the next
 * applies instead of failing one.
 */
export function auditWrites(
  layout: KeyLayout,
  env: string,
  state: AuditState,
  entry: StoredAudit,
  sourceText: string,
  limits: { keep: number; maxDeletes: number; chunkChars?: number },
): AuditWrites {
  const chunkChars = limits.chunkChars ?? SOURCE_CHUNK_CHARS;
  const sourceChunks: Mutation[] = [];
  if (!state.records.some((r) => r.sourceHash === entry.sourceHash)) {
    const base = layout.auditSource(env, entry.sourceHash);
    for (let i = 0, n = 0; i < sourceText.length || n === 0; i += chunkChars, n++) {
      sourceChunks.push({ type: 'put', key: `${base}${String(n).padStart(6, '0')}`, value: sourceText.slice(i, i + chunkChars) });
    }
  }
  const withCommit: Mutation[] = [{ type: 'put', key: layout.auditRecord(env, entry.id), value: JSON.stringify(entry) }];
  const kept = new Set([entry.sourceHash]);
  let deletes = 0;
  for (const r of [...state.records].sort((a, b) => a.id - b.id)) {
    if (r.id <= entry.id - limits.keep && deletes < limits.maxDeletes) {
      withCommit.push({ type: 'delete', key: layout.auditRecord(env, r.id) });
      deletes++;
    } else {
      kept.add(r.sourceHash);
    }
  }
  for (const [hash, keys] of state.blobs) {
    if (kept.has(hash) || deletes + keys.length > limits.maxDeletes) continue;
    for (const key of keys) withCommit.push({ type: 'delete', key });
    deletes += keys.length;
  }
  return { sourceChunks, withCommit };
}

/** The diff of an apply as stored: whole up to `maxChars`, else its first entries and `truncated`. */
export function boundedDiff(
  diff: { created: ResourceRef[]; updated: ResourceUpdate[]; deleted: ResourceRef[] },
  maxChars: number,
): Pick<AuditEntry, 'created' | 'updated' | 'deleted' | 'truncated'> {
  if (JSON.stringify(diff).length <= maxChars) return { ...diff, truncated: false };
  const out = { created: [] as ResourceRef[], updated: [] as ResourceUpdate[], deleted: [] as ResourceRef[], truncated: true };
  let budget = maxChars;
  const take = <T>(from: readonly T[], to: T[]) => {
    for (const item of from) {
      const size = JSON.stringify(item).length + 1;
      if (size > budget) return;
      budget -= size;
      to.push(item);
    }
  };
  take(diff.created, out.created);
  take(diff.deleted, out.deleted);
  take(diff.updated, out.updated);
  return out;
}

/** The trail of an environment, newest first, without the diffs. */
export async function listAudit(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<AuditRecord[]> {
  const res = await conn.call((c) => c.getAll().prefix(layout.auditRecords(env)).sort('Key', 'Descend').exec());
  const out: AuditRecord[] = [];
  for (const kv of res.kvs) {
    const stored = parseStored(kv.value.toString());
    if (!stored || stored.id !== idOfKey(layout, env, kv.key.toString())) continue;
    const { created: _c, updated: _u, deleted: _d, truncated: _t, ...record } = stored;
    out.push({ ...record, revision: Number(kv.mod_revision) });
  }
  return out;
}

/** One record with its diff; NotFoundError when it was never written or was pruned. */
export async function auditEntry(conn: EtcdConnection, layout: KeyLayout, env: string, id: number): Promise<AuditEntry> {
  const kv = (await conn.call((c) => c.get(layout.auditRecord(env, id)).exec())).kvs[0];
  const stored = kv ? parseStored(kv.value.toString()) : undefined;
  if (!kv || !stored) {
    throw new NotFoundError(`environment ${env} has no audit record ${id} (it was never written, or was pruned): see \`waymark history -e ${env}\``);
  }
  return { ...stored, revision: Number(kv.mod_revision) };
}

/** The source an audit record names, as the apply stored it. */
export async function auditedSource(conn: EtcdConnection, layout: KeyLayout, env: string, record: AuditRecord): Promise<StoredSource> {
  const res = await conn.call((c) => c.getAll().prefix(layout.auditSource(env, record.sourceHash)).sort('Key', 'Ascend').exec());
  const text = res.kvs.map((kv) => kv.value.toString()).join('');
  const source = sourceHash(text) === record.sourceHash ? decodeSource(text) : undefined;
  if (!source) throw new NotFoundError(`the source of audit record ${record.id} of environment ${env} is missing or damaged in etcd`);
  return source;
}

function idOfKey(layout: KeyLayout, env: string, key: string): number | undefined {
  const rest = key.slice(layout.auditRecords(env).length);
  return /^\d{12}$/.test(rest) && Number(rest) > 0 ? Number(rest) : undefined;
}

/** A stored record, or undefined for a value not written by a registry (hand-edited): it is left out. */
function parseStored(text: string): StoredAudit | undefined {
  try {
    const v = JSON.parse(text) as Partial<StoredAudit> | null;
    if (!v || typeof v !== 'object') return undefined;
    if (!Number.isSafeInteger(v.id) || typeof v.sourceHash !== 'string' || !/^[0-9a-f]{64}$/.test(v.sourceHash)) return undefined;
    if (typeof v.commitId !== 'string' || typeof v.at !== 'string' || !v.by || !v.summary || !Array.isArray(v.created)) return undefined;
    return v as StoredAudit;
  } catch {
    return undefined;
  }
}
