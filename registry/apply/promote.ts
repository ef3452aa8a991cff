import type { ApplyResult, AuditActor } from '../../openapi/index.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { applyManifests, type OperationContext } from './apply.js';
import { sourceDocuments } from './source.js';
import { readState } from './state.js';

export interface PromoteRequest {
  from: string;
  to: string;
  dryRun?: boolean;
  prune?: boolean;
  by?: string;
  role?: AuditActor['role'];
}

/**
 * Re-renders the source last applied to `from` with the variables stored for `to` and applies
 * it there. Environment documents are never part of a source, so each environment keeps its
 * own variables; a variable `to` lacks is a validation error naming the original file.
 */
export async function promote(ctx: OperationContext, req: PromoteRequest): Promise<ApplyResult> {
  ctx.layout.environment(req.from);
  ctx.layout.environment(req.to);
  if (req.from === req.to) throw new BadRequestError(`cannot promote environment ${req.from} to itself: give two different environments`);
  const state = await readState(ctx.conn, ctx.layout, req.from);
  if (!state.source || state.source.documents.length === 0) {
    throw new NotFoundError(`environment ${req.from} has no applied manifests to promote: apply to it first`);
  }
  return applyManifests(ctx, {
    environment: req.to,
    sources: [{ file: `(source of ${req.from})`, documents: sourceDocuments(state.source) }],
    ...(req.dryRun !== undefined ? { dryRun: req.dryRun } : {}),
    ...(req.prune !== undefined ? { prune: req.prune } : {}),
    ...(req.by ? { by: req.by } : {}),
    ...(req.role ? { role: req.role } : {}),
    operation: 'promote',
    from: req.from,
  });
}
