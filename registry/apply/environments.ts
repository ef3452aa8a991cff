import type { CommitRecord, EnvironmentSummary, InternalTopology } from '../../openapi/index.js';
import type { EtcdConnection } from '../../store/etcd.js';
import { NotFoundError } from '../errors.js';
import type { KeyLayout } from '../../store/keys.js';
import { readEnvironment, readReportedRevisions } from '../../store/reader.js';
import { environmentRevision } from '../../store/revision.js';
import { parseRecord } from '../../topology/index.js';

/** A key's name and revisions, as a keys-only range returns them. */
export interface KeyInfo {
  key: string;
  modRevision: number;
  lease: string;
}

/** Keys (no values) of a range, and the read's revision: cheap even for 10 000 services. */
export async function readKeys(conn: EtcdConnection, start: string, end: string): Promise<{ revision: number; keys: KeyInfo[] }> {
  const res = await conn.call((c) => c.kv.range({ key: Buffer.from(start), range_end: Buffer.from(end), keys_only: true }));
  return {
    revision: Number(res.header.revision),
    keys: res.kvs.map((kv) => ({ key: kv.key.toString(), modRevision: Number(kv.mod_revision), lease: String(kv.lease) })),
  };
}

/** Every environment that has at least one key, with counts and its last commit. */
export async function listEnvironments(conn: EtcdConnection, layout: KeyLayout): Promise<EnvironmentSummary[]> {
  // '0' is the byte after '/': the range covers everything below the prefix.
  const { revision, keys } = await readKeys(conn, `${layout.prefix}/`, `${layout.prefix}0`);
  const byEnv = new Map<string, KeyInfo[]>();
  for (const k of keys) {
    const env = layout.environmentOf(k.key);
    if (!env) continue;
    const list = byEnv.get(env);
    if (list) list.push(k);
    else byEnv.set(env, [k]);
  }
  const names = [...byEnv.keys()].sort();
  return Promise.all(
    names.map(async (name): Promise<EnvironmentSummary> => {
      const envKeys = byEnv.get(name)!;
      const count = (kind: string) => envKeys.filter((k) => layout.parse(name, k.key)?.kind === kind).length;
      const [reported, commit] = await Promise.all([readReportedRevisions(conn, layout, name, revision), readCommit(conn, layout, name)]);
      const summary: EnvironmentSummary = {
        name,
        revision: environmentRevision(layout, name, envKeys, reported, revision),
        regions: count('region'),
        services: count('service'),
        gateways: count('gateway'),
      };
      if (commit) summary.lastCommit = commit;
      return summary;
    }),
  );
}

async function readCommit(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<CommitRecord | undefined> {
  const text = await conn.call((c) => c.get(layout.commit(env)).string());
  if (!text) return undefined;
  const checked = parseRecord('commit', text);
  return checked.ok ? checked.value : undefined;
}

/**
 * NotFoundError, naming the environments that exist, unless `env` has a key: what a status or
 * view of a misspelt name answers, before anything (a read, a monitor) starts for it. The hit
 * path is one keys-only read of at most one key; the names are listed only on a miss.
 */
export async function assertEnvironment(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<void> {
  const start = layout.environment(env);
  const hit = await conn.call((c) => c.kv.range({ key: Buffer.from(start), range_end: Buffer.from(`${start.slice(0, -1)}0`), keys_only: true, limit: 1 }));
  if (hit.kvs.length > 0) return;
  const { names, more } = await environmentNames(conn, layout, MAX_NAMED_ENVIRONMENTS);
  const list = names.length === 0 ? '(none yet)' : `${names.join(', ')}${more ? ', …' : ''}`;
  throw new NotFoundError(`no environment ${env}: known environments are ${list}`);
}

/** Environments a 404 names at most (each costs one read of one key). */
const MAX_NAMED_ENVIRONMENTS = 20;

/**
 * The first `max` environment names in key order, one keys-only read of one key each: after a
 * name's first key the next read starts past all of its keys. A miss costs O(max) small reads,
 * not a read of every key of every environment.
 */
async function environmentNames(conn: EtcdConnection, layout: KeyLayout, max: number): Promise<{ names: string[]; more: boolean }> {
  const names: string[] = [];
  const end = Buffer.from(`${layout.prefix}0`);
  let from = `${layout.prefix}/`;
  for (;;) {
    const res = await conn.call((c) => c.kv.range({ key: Buffer.from(from), range_end: end, keys_only: true, limit: 1 }));
    if (res.kvs.length === 0) return { names, more: false };
    const key = res.kvs[0]!.key.toString();
    // Past every key of this first segment ('0' sorts right after '/'): an environment or _policy.
    const segment = key.slice(layout.prefix.length + 1).split('/', 1)[0]!;
    from = `${layout.prefix}/${segment}0`;
    const env = layout.environmentOf(key);
    if (env === undefined) continue;
    if (names.length === max) return { names, more: true };
    names.push(env);
  }
}

/** The internal view of an environment (upstreams included). NotFoundError when it holds nothing. */
export async function internalTopology(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<InternalTopology> {
  const read = await readEnvironment(conn, layout, env);
  const s = read.snapshot;
  if (s.regions.size === 0 && s.services.size === 0 && s.gateways.size === 0 && !s.commit) {
    throw new NotFoundError(`environment ${env} has nothing: apply manifests to it first (waymark apply -f … --environment ${env})`);
  }
  return s.toInternal();
}
