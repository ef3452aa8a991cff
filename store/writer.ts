import { randomUUID } from 'node:crypto';
import type { Etcd3, IKeyValue, IOperation } from 'etcd3';
import type { CommitRecord } from '../openapi/index.js';
import type { EtcdConnection } from './etcd.js';
import { ConflictError } from './errors.js';
import type { KeyLayout } from './keys.js';
import { parsePending, type PendingApply } from './reader.js';

export type Mutation = { type: 'put'; key: string; value: string } | { type: 'delete'; key: string };

export interface CommitOptions {
  /**
   * Mod revision of the environment's `commit` key when the changes were computed (0 when it did
   * not exist). The write fails with ConflictError if another apply committed since.
   */
  expectedCommitRevision: number;
  /** The record written to `commit` by the same transaction that makes the change visible. */
  commit: CommitRecord;
  /**
   * Written in the same transaction as `commit` (the last one of a multi-transaction apply): the
   * audit record of the apply and its pruning, which must appear exactly when the change does.
   */
  withCommit?: readonly Mutation[];
  /** Lease of the applying registry, recorded in the marker of a multi-transaction apply. */
  lease?: string;
  /** Operations per transaction: etcd's `--max-txn-ops`. Default 128. */
  maxTxnOps?: number;
  /** Bytes of keys and values per transaction, below etcd's 1.5 MiB `--max-request-bytes`. Default 1 MiB. */
  maxTxnBytes?: number;
}

export const WRITER_DEFAULTS = {
  maxTxnOps: 128,
  maxTxnBytes: 1024 * 1024,
  /** A marker without a lease is considered abandoned after this long. */
  abandonAfterMs: 60_000,
} as const;

export interface CommitResult {
  /** Revision at which the whole change became visible. */
  revision: number;
  /** How many etcd transactions it took (1 for most applies). */
  transactions: number;
}

/**
 * Writes a set of changes to one environment atomically, guarded by the `commit` key's revision.
 *
 * Changes that fit in one transaction are written in one. Larger ones (an environment of 10 000
 * services, a large prune) use a marker: a first transaction puts `<env>/pending` (guarded like a
 * single write), chunks follow (each guarded by the marker's revision), and a last transaction
 * deletes the marker and writes `commit`. Readers hold back what they see while the marker
 * exists (see TopologyWatcher and readEnvironment), so they see the whole old or the whole new
 * state. An apply that dies half-way is rolled back by `recoverPendingApply`.
 */
export async function commitChanges(
  conn: EtcdConnection,
  layout: KeyLayout,
  env: string,
  mutations: readonly Mutation[],
  options: CommitOptions,
): Promise<CommitResult> {
  const maxOps = options.maxTxnOps ?? WRITER_DEFAULTS.maxTxnOps;
  const maxBytes = options.maxTxnBytes ?? WRITER_DEFAULTS.maxTxnBytes;
  const commitKey = layout.commit(env);
  const pendingKey = layout.pending(env);
  const commitValue = JSON.stringify(options.commit);
  const withCommit = options.withCommit ?? [];
  const conflict = () =>
    new ConflictError(
      `environment ${env} changed while this apply was prepared (another apply committed, or one is in progress): read the new state and apply again`,
    );

  if (
    mutations.length + withCommit.length + 1 <= maxOps &&
    bytesOf(mutations) + bytesOf(withCommit) + commitValue.length <= maxBytes
  ) {
    const res = await conn.call((c) =>
      c
        .if(commitKey, 'Mod', '==', options.expectedCommitRevision)
        .and(pendingKey, 'Create', '==', 0)
        .then(...toOps(c, mutations), ...toOps(c, withCommit), c.put(commitKey).value(commitValue))
        .commit(),
    );
    if (!res.succeeded) throw conflict();
    return { revision: Number(res.header.revision), transactions: 1 };
  }

  const marker = JSON.stringify({
    id: options.commit.id ?? randomUUID(),
    startedAt: new Date().toISOString(),
    ...(options.commit.by ? { by: options.commit.by } : {}),
    ...(options.lease ? { lease: options.lease } : {}),
  });
  const started = await conn.call((c) =>
    c
      .if(commitKey, 'Mod', '==', options.expectedCommitRevision)
      .and(pendingKey, 'Create', '==', 0)
      .then(c.put(pendingKey).value(marker))
      .commit(),
  );
  if (!started.succeeded) throw conflict();
  const markerRevision = Number(started.header.revision);
  let transactions = 1;
  try {
    for (const chunk of chunks(mutations, maxOps, maxBytes)) {
      const res = await conn.call((c) =>
        c.if(pendingKey, 'Mod', '==', markerRevision).then(...toOps(c, chunk)).commit(),
      );
      transactions++;
      if (!res.succeeded) throw abandoned(env);
    }
    const done = await conn.call((c) =>
      c
        .if(pendingKey, 'Mod', '==', markerRevision)
        .then(c.delete().key(pendingKey), ...toOps(c, withCommit), c.put(commitKey).value(commitValue))
        .commit(),
    );
    transactions++;
    if (!done.succeeded) throw abandoned(env);
    return { revision: Number(done.header.revision), transactions };
  } catch (err) {
    if (!(err instanceof ConflictError)) {
      // Best effort: undo now rather than leave the marker for the next apply to find.
      await rollbackPendingApply(conn, layout, env, options).catch(() => undefined);
    }
    throw err;
  }
}

export type RecoveryOutcome = 'none' | 'in-progress' | 'rolled-back';

/**
 * Looks for the marker of an apply that died half-way and rolls it back: every record it wrote
 * gets its value from before the apply again. An apply whose registry still holds its lease is
 * left alone ('in-progress').
 */
export async function recoverPendingApply(
  conn: EtcdConnection,
  layout: KeyLayout,
  env: string,
  options: { maxTxnOps?: number; maxTxnBytes?: number; abandonAfterMs?: number } = {},
): Promise<RecoveryOutcome> {
  const kv = (await conn.call((c) => c.get(layout.pending(env)).exec())).kvs[0];
  if (!kv) return 'none';
  const pending = parsePending(kv);
  if (!(await isAbandoned(conn, pending, options.abandonAfterMs ?? WRITER_DEFAULTS.abandonAfterMs))) {
    return 'in-progress';
  }
  await rollbackPendingApply(conn, layout, env, options, pending);
  return 'rolled-back';
}

async function isAbandoned(conn: EtcdConnection, pending: PendingApply, abandonAfterMs: number): Promise<boolean> {
  if (pending.lease) {
    const res = await conn.call((c) => c.leaseClient.leaseTimeToLive({ ID: pending.lease! }));
    return Number(res.TTL) <= 0;
  }
  const started = Date.parse(pending.startedAt);
  return !Number.isFinite(started) || Date.now() - started > abandonAfterMs;
}

async function rollbackPendingApply(
  conn: EtcdConnection,
  layout: KeyLayout,
  env: string,
  options: { maxTxnOps?: number; maxTxnBytes?: number },
  known?: PendingApply,
): Promise<void> {
  const pendingKey = layout.pending(env);
  const pending = known ?? parsePending(
    (await conn.call((c) => c.get(pendingKey).exec())).kvs[0] ?? failNoMarker(env),
  );
  // Fence first: rewrite the marker, so a late chunk of the original apply (a registry that was
  // only partitioned) fails its guard instead of landing between our read and our undo.
  const fenced = await conn.call((c) =>
    c
      .if(pendingKey, 'Mod', '==', pending.markerRevision)
      .then(c.put(pendingKey).value(JSON.stringify({ id: pending.id, startedAt: pending.startedAt, rollingBack: true })))
      .commit(),
  );
  if (!fenced.succeeded) throw abandoned(env);
  const fence = Number(fenced.header.revision);
  const prefix = layout.environment(env);
  const [before, now] = await Promise.all([
    conn.call((c) => c.getAll().prefix(prefix).revision(pending.baseRevision).exec()),
    conn.call((c) => c.getAll().prefix(prefix).exec()),
  ]);
  const owned = (kv: IKeyValue) => {
    const kind = layout.parse(env, kv.key.toString())?.kind;
    return kind !== 'gateway' && kind !== 'pending';
  };
  const old = new Map(before.kvs.filter(owned).map((kv) => [kv.key.toString(), kv.value.toString()]));
  const undo: Mutation[] = [];
  for (const kv of now.kvs.filter(owned)) {
    const key = kv.key.toString();
    if (Number(kv.mod_revision) <= pending.baseRevision) continue;
    const value = old.get(key);
    undo.push(value === undefined ? { type: 'delete', key } : { type: 'put', key, value });
  }
  const present = new Set(now.kvs.map((kv) => kv.key.toString()));
  for (const [key, value] of old) if (!present.has(key)) undo.push({ type: 'put', key, value });

  const maxOps = options.maxTxnOps ?? WRITER_DEFAULTS.maxTxnOps;
  const maxBytes = options.maxTxnBytes ?? WRITER_DEFAULTS.maxTxnBytes;
  for (const chunk of chunks(undo, maxOps, maxBytes)) {
    const res = await conn.call((c) =>
      c.if(pendingKey, 'Mod', '==', fence).then(...toOps(c, chunk)).commit(),
    );
    if (!res.succeeded) throw abandoned(env);
  }
  await conn.call((c) => c.if(pendingKey, 'Mod', '==', fence).then(c.delete().key(pendingKey)).commit());
}

function failNoMarker(env: string): never {
  throw new ConflictError(`no apply is in progress in environment ${env}`);
}

function abandoned(env: string): ConflictError {
  return new ConflictError(
    `the apply to environment ${env} was rolled back by another registry while it ran (it took too long or lost its lease): apply again`,
  );
}

function toOps(c: Etcd3, mutations: readonly Mutation[]): IOperation[] {
  return mutations.map((m) => (m.type === 'put' ? c.put(m.key).value(m.value) : c.delete().key(m.key)));
}

function bytesOf(mutations: readonly Mutation[]): number {
  let n = 0;
  for (const m of mutations) n += m.key.length + (m.type === 'put' ? m.value.length : 0);
  return n;
}

function* chunks(mutations: readonly Mutation[], maxOps: number, maxBytes: number): Generator<Mutation[]> {
  let chunk: Mutation[] = [];
  let bytes = 0;
  for (const m of mutations) {
    const size = m.key.length + (m.type === 'put' ? m.value.length : 0);
    if (chunk.length > 0 && (chunk.length >= maxOps || bytes + size > maxBytes)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
