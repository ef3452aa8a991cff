import type { ApplyResult, AuditActor } from '../../openapi/index.js';
import { applyManifests, type OperationContext } from './apply.js';
import { auditedSource, auditEntry } from './audit.js';
import { sourceDocuments } from './source.js';

export interface RollbackRequest {
  environment: string;
  /** The audit record whose source is re-applied. */
  to: number;
  dryRun?: boolean;
  by?: string;
  role?: AuditActor['role'];
}

/**
 * Re-applies the source an audit record names, with the environment's current variables, through
 * the same validated, guarded apply. With prune: that source was the environment's whole desired
 * state, so what was added since goes away. The rollback is audited like any apply.
 */
export async function rollback(ctx: OperationContext, req: RollbackRequest): Promise<ApplyResult> {
  const env = req.environment;
  ctx.layout.environment(env);
  const record = await auditEntry(ctx.conn, ctx.layout, env, req.to);
  const source = await auditedSource(ctx.conn, ctx.layout, env, record);
  return applyManifests(ctx, {
    environment: env,
    sources: [{ file: `(source of ${env} at history ${record.id})`, documents: sourceDocuments(source) }],
    prune: true,
    ...(req.dryRun !== undefined ? { dryRun: req.dryRun } : {}),
    ...(req.by ? { by: req.by } : {}),
    ...(req.role ? { role: req.role } : {}),
    operation: 'rollback',
    rollbackOf: record.id,
  });
}
