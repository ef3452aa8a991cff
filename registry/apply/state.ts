import type { RegionDefinition, ServiceDefinition, SigningKeys } from '../../openapi/index.js';
import { parseSigningKeys } from '../signing/published.js';
import type { EtcdConnection } from '../../store/etcd.js';
import { ConflictError } from '../../store/errors.js';
import type { KeyLayout } from '../../store/keys.js';
import { topologyRange } from '../../store/reader.js';
import { environmentRevision } from '../../store/revision.js';
import { TopologyRecords, type InvalidRecord } from '../../store/records.js';
import { emptyVariables } from '../manifest/variables.js';
import { readReportedRevisions } from '../../store/reader.js';
import { decodeSource, type StoredSource } from './source.js';

/** What an apply compares against: an environment's records as etcd holds them at one revision. */
export interface EnvironmentState {
  environment: string;
  /** Header revision of the read. */
  revision: number;
  /** The environment's revision at the read (store/revision.ts): what a no-op or dry-run apply reports. */
  environmentRevision: number;
  /** Mod revision of `<env>/commit` (0 if never applied): the guard of the next apply. */
  commitRevision: number;
  regions: Map<string, RegionDefinition>;
  services: Map<string, ServiceDefinition>;
  /**
   * Region and service keys whose stored value is invalid (absent from `regions`/`services`): an
   * apply naming one replaces it, a pruning apply deletes it, any other apply leaves it alone.
   */
  invalid: InvalidRecord[];
  /** The public signing keys (`<env>/keys`), when the environment is signed. */
  signingKeys?: SigningKeys;
  /** Stored variables (`<env>/variables`), undefined when the environment has none yet. */
  variables?: Record<string, string>;
  /** True while the variables are still at their pre-0.2 key (`<env>/environment`): the next apply moves them. */
  legacyVariables: boolean;
  /** The stored source as one text, its parsed form and its chunks. */
  sourceText: string;
  source?: StoredSource;
  sourceChunks: Array<{ key: string; value: string }>;
}

/** The stored value of `<env>/variables`. */
export interface StoredEnvironment {
  name: string;
  variables: Record<string, string>;
}

/**
 * Reads an environment's records and its applied source at one revision. An apply in progress
 * (a `pending` marker) is a conflict: its records are half written.
 */
export async function readState(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<EnvironmentState> {
  const res = await conn.call((c) => c.getAll().inRange(topologyRange(layout, env)).exec());
  const revision = Number(res.header.revision);
  const records = new TopologyRecords(layout, env);
  let commitRevision = 0;
  let legacy: Record<string, string> | undefined;
  let legacyVariables = false;
  let signingKeys: SigningKeys | undefined;
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    const kind = layout.parse(env, key)?.kind;
    if (kind === 'pending') {
      throw new ConflictError(`another apply to environment ${env} is in progress: wait for it to finish, then apply again`);
    }
    if (kind === 'commit') commitRevision = Number(kv.mod_revision);
    if (kind === 'environment') {
      legacyVariables = true;
      legacy = parseVariables(kv.value.toString());
    }
    if (kind === 'keys') signingKeys = parseSigningKeys(kv.value.toString(), env);
    records.apply(key, kv.value.toString());
  }
  // All at the first read's revision, so they are one consistent state.
  const [src, vars, reported] = await Promise.all([
    conn.call((c) => c.getAll().prefix(layout.sources(env)).revision(String(revision)).sort('Key', 'Ascend').exec()),
    conn.call((c) => c.get(layout.environmentSpec(env)).revision(String(revision)).exec()),
    readReportedRevisions(conn, layout, env, revision),
  ]);
  const stored = vars.kvs[0];
  const variables = stored ? parseVariables(stored.value.toString()) : legacy;
  const keys = res.kvs.map((kv) => ({ key: kv.key.toString(), modRevision: Number(kv.mod_revision) }));
  const sourceChunks = src.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }));
  const sourceText = sourceChunks.map((c) => c.value).join('');
  const source = decodeSource(sourceText);
  return {
    environment: env,
    revision,
    environmentRevision: environmentRevision(layout, env, keys, reported, revision),
    commitRevision,
    regions: records.regions,
    services: records.services,
    invalid: records.invalidRecords(),
    ...(variables ? { variables } : {}),
    legacyVariables,
    ...(signingKeys ? { signingKeys } : {}),
    sourceText,
    ...(source ? { source } : {}),
    sourceChunks,
  };
}

function parseVariables(text: string): Record<string, string> | undefined {
  try {
    const v = JSON.parse(text) as Partial<StoredEnvironment>;
    // Without a prototype, as checked manifests hold them: a stored `__proto__` stays an entry.
    if (v && typeof v.variables === 'object' && v.variables !== null) return Object.assign(emptyVariables(), v.variables);
  } catch {
    // A hand-edited, unreadable value counts as none: the next Environment document replaces it.
  }
  return undefined;
}
