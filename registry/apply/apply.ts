import { randomUUID } from 'node:crypto';
import type { ApplyResult, AuditActor, AuditRecord, CommitRecord, RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { checkRecord } from '../../topology/index.js';
import { Problems } from '../manifest/errors.js';
import { checkManifests } from '../manifest/load.js';
import type { ManifestSource } from '../manifest/parse.js';
import { renderManifest } from '../manifest/render.js';
import type { ManifestLimits } from '../manifest/schema.js';
import { validateTopology, type Placed } from '../manifest/validate.js';
import type { HostResolver } from '../../policy/index.js';
import { checkUpstreams } from '../policy/upstream-check.js';
import type { EtcdConnection } from '../../store/etcd.js';
import { ConflictError } from '../../store/errors.js';
import { InvalidRecordError } from '../errors.js';
import type { KeyLayout } from '../../store/keys.js';
import { commitChanges, recoverPendingApply, WRITER_DEFAULTS, type CommitOptions } from '../../store/writer.js';
import { AUDIT_DEFAULTS, auditWrites, boundedDiff, readAuditState, sourceHash, type AuditOptions, type StoredAudit } from './audit.js';
import { planChanges, type Plan } from './plan.js';
import { checkBeforeWriting, explainQuarantinedRegions } from './prewrite.js';
import type { KeyStore } from '../signing/keystore.js';
import { signedStatement } from '../signing/sign.js';
import { encodeSource, mergeSource, SOURCE_CHUNK_CHARS } from './source.js';
import { readState, type EnvironmentState } from './state.js';

/** What the registry's operations need: etcd, the key layout, and the registry's live lease. */
export interface OperationContext {
  conn: EtcdConnection;
  layout: KeyLayout;
  /** The lease of the running registry, recorded in the marker of a multi-transaction apply. */
  leaseId(): string | undefined;
  limits?: ManifestLimits;
  /** Characters per stored source chunk (see SOURCE_CHUNK_CHARS). */
  sourceChunkChars?: number;
  /** etcd's transaction limits, when they differ from the stock 128 operations / 1.5 MiB. */
  maxTxnOps?: number;
  maxTxnBytes?: number;
  /** `host:port` of the registry's admin API: never accepted as an upstream. */
  ownAddresses?(): readonly string[];
  /** Resolves upstream names for the upstream rules (one per registry, so answers are cached). */
  resolver?: HostResolver;
  /** Bounds of the audit trail (defaults in AUDIT_DEFAULTS). */
  audit?: AuditOptions;
  /** Called with each audit record once its apply is committed (the registry logs it). */
  audited?(environment: string, record: AuditRecord): void;
  /** The registry's private signing keys; without it, applies to a signed environment are refused. */
  keys?: KeyStore;
}

export interface ApplyRequest {
  environment: string;
  sources: readonly ManifestSource[];
  /** Only compute and report the diff. */
  dryRun?: boolean;
  /** Also delete the environment's regions and services that the manifests do not name. */
  prune?: boolean;
  /** Who applies (a token's name), recorded in the commit record. */
  by?: string;
  /** The role of `by`'s token, recorded in the audit record (default admin: a library caller holds etcd itself). */
  role?: AuditActor['role'];
  operation?: 'apply' | 'promote' | 'rollback';
  /** Source environment of a promotion. */
  from?: string;
  /** The audit record a rollback re-applies. */
  rollbackOf?: number;
}

/** An apply computed against one revision: its diff, and `commit()` to write it. */
export interface PreparedApply {
  readonly plan: Plan;
  readonly state: EnvironmentState;
  /** The result as it stands before committing (what a dry run returns). */
  readonly preview: ApplyResult;
  /**
   * Writes the plan atomically, guarded by the revision it was computed against: if another
   * apply committed in between, it fails with ConflictError and writes nothing. A plan that
   * changes nothing writes nothing.
   */
  commit(): Promise<ApplyResult>;
}

/** Validates, reads the environment, renders and diffs; writes nothing. Throws ValidationError. */
export async function prepareApply(ctx: OperationContext, req: ApplyRequest): Promise<PreparedApply> {
  const env = req.environment;
  const prune = req.prune ?? false;
  ctx.layout.environment(env);
  // Every problem of the apply in one rejection: shape problems do not stop the checks between
  // documents and against the stored state; nothing is written unless all pass.
  const problems = new Problems();
  const loaded = checkManifests(req.sources, env, problems, ctx.limits, req.operation === 'promote' ? req.from : undefined);
  // Without one buildable document there is nothing to check further.
  if (loaded.resources.length === 0) problems.throwIfAny();
  const shapeProblems = problems.size;
  // A rejected apply changes nothing, not even by rolling back an abandoned one.
  if (!req.dryRun && problems.size === 0) {
    const outcome = await recoverPendingApply(ctx.conn, ctx.layout, env, { maxTxnOps: ctx.maxTxnOps, maxTxnBytes: ctx.maxTxnBytes });
    if (outcome === 'in-progress') {
      throw new ConflictError(`another apply to environment ${env} is in progress: wait for it to finish, then apply again`);
    }
  }
  const state = await readState(ctx.conn, ctx.layout, env).catch((err: unknown) => {
    // An apply in progress: what is wrong with this one is the more useful answer.
    if (err instanceof ConflictError) problems.throwIfAny();
    throw err;
  });
  const variables = loaded.environment?.variables ?? state.variables ?? {};

  const regions = new Map<string, Placed<RegionDefinition>>();
  const services = new Map<string, Placed<ServiceDefinition>>();
  if (!prune) {
    for (const [name, value] of state.regions) regions.set(name, { value });
    for (const [name, value] of state.services) services.set(name, { value });
  }
  const desiredRegions = new Map<string, RegionDefinition>();
  const desiredServices = new Map<string, ServiceDefinition>();
  for (const m of loaded.resources) {
    const rendered = renderManifest(m, variables, env, problems);
    if (rendered?.kind === 'Region') {
      regions.set(rendered.definition.name, { value: rendered.definition, from: m });
      desiredRegions.set(rendered.definition.name, rendered.definition);
    } else if (rendered?.kind === 'Service') {
      services.set(rendered.definition.name, { value: rendered.definition, from: m });
      desiredServices.set(rendered.definition.name, rendered.definition);
    }
  }
  validateTopology(regions, services, problems, loaded.brokenRegions);
  // The target environment's upstream policy, so a promotion is held to it too.
  await checkUpstreams(
    { conn: ctx.conn, layout: ctx.layout, ownAddresses: ctx.ownAddresses?.() ?? [], ...(ctx.resolver ? { resolver: ctx.resolver } : {}) },
    env,
    services,
    problems,
    state.services,
  );
  explainQuarantinedRegions(ctx.layout, env, state.invalid, regions, services, problems);
  problems.dropRepeatsFrom(shapeProblems);
  problems.throwIfAny();
  checkBeforeWriting(regions, services, problems);
  problems.throwIfAny();

  const sourceText = encodeSource(mergeSource(state.source, loaded.resources, prune));
  const plan = planChanges(
    ctx.layout,
    state,
    {
      ...(loaded.environment ? { variables: loaded.environment.variables } : {}),
      regions: desiredRegions,
      services: desiredServices,
      sourceText,
    },
    prune,
    ctx.sourceChunkChars,
  );
  const preview: ApplyResult = {
    environment: env,
    dryRun: req.dryRun ?? false,
    changed: plan.mutations.length > 0,
    revision: state.environmentRevision,
    created: plan.created,
    updated: plan.updated,
    deleted: plan.deleted,
    unchanged: plan.unchanged,
    summary: plan.summary,
  };
  return {
    plan,
    state,
    preview,
    async commit() {
      if (plan.mutations.length === 0) return preview;
      const record: CommitRecord = {
        id: randomUUID(),
        at: new Date().toISOString(),
        ...(req.by ? { by: displayName(req.by) } : {}),
        operation: req.operation ?? 'apply',
        ...(req.from ? { from: req.from } : {}),
        summary: plan.summary,
        sourceChunks: Math.ceil(sourceText.length / (ctx.sourceChunkChars ?? SOURCE_CHUNK_CHARS)),
      };
      const checked = checkRecord('commit', record);
      if (!checked.ok) throw new InvalidRecordError(ctx.layout.commit(env), checked.problems);
      // Read at the plan's revision: the commit guard below then also guards the trail.
      const trail = await readAuditState(ctx.conn, ctx.layout, env, state.revision);
      const entry: StoredAudit = {
        id: trail.lastId + 1,
        commitId: record.id,
        at: record.at,
        by: { name: displayName(req.by ?? '(library)'), role: req.role ?? 'admin' },
        operation: record.operation ?? 'apply',
        ...(req.from ? { from: req.from } : {}),
        ...(req.rollbackOf ? { rollbackOf: req.rollbackOf } : {}),
        files: [...new Set(req.sources.map((s) => displayName(s.file).slice(0, 256)))].slice(0, AUDIT_DEFAULTS.maxFiles),
        sourceHash: sourceHash(sourceText),
        summary: plan.summary,
        ...boundedDiff(plan, ctx.audit?.maxDiffChars ?? AUDIT_DEFAULTS.maxDiffChars),
      };
      const writes = auditWrites(ctx.layout, env, trail, entry, sourceText, {
        keep: ctx.audit?.keep ?? AUDIT_DEFAULTS.keep,
        // The last transaction also holds the record, the commit and the marker's delete.
        maxDeletes: Math.max(0, (ctx.maxTxnOps ?? WRITER_DEFAULTS.maxTxnOps) - 3),
        ...(ctx.sourceChunkChars ? { chunkChars: ctx.sourceChunkChars } : {}),
      });
      // Signed in the same write as the change, so no reader sees the records without their statement.
      const signed = signedStatement(
        ctx.keys,
        ctx.layout,
        env,
        state.signingKeys,
        state.revision + 1,
        [...regions.values()].map((r) => r.value),
        [...services.values()].map((s) => s.value),
      );
      const mutations = signed ? [...plan.mutations, signed] : plan.mutations;
      const lease = ctx.leaseId();
      const options: CommitOptions = {
        expectedCommitRevision: state.commitRevision,
        commit: record,
        withCommit: writes.withCommit,
        ...(lease ? { lease } : {}),
        ...(ctx.maxTxnOps ? { maxTxnOps: ctx.maxTxnOps } : {}),
        ...(ctx.maxTxnBytes ? { maxTxnBytes: ctx.maxTxnBytes } : {}),
      };
      const res = await commitChanges(ctx.conn, ctx.layout, env, [...mutations, ...writes.sourceChunks], options);
      const { created: _c, updated: _u, deleted: _d, truncated: _t, ...audited } = entry;
      ctx.audited?.(env, { ...audited, revision: res.revision });
      return { ...preview, dryRun: false, revision: res.revision };
    },
  };
}

/** A token's name as recorded in a commit: the contract's Label (printable, at most 128 characters). */
function displayName(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 128);
}

/** Applies manifests to an environment (or, with dryRun, only reports the diff). */
export async function applyManifests(ctx: OperationContext, req: ApplyRequest): Promise<ApplyResult> {
  const prepared = await prepareApply(ctx, req);
  return req.dryRun ? prepared.preview : prepared.commit();
}
