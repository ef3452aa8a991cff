import { Router } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { PromotionRequest, RollbackRequest } from '../../openapi/index.js';
import { authorize, type Principal, type TokenStore } from '../auth/tokens.js';
import { BadRequestError } from '../errors.js';
import type { ManifestSource } from '../manifest/parse.js';
import { MANIFEST_DEFAULTS, type ManifestLimits } from '../manifest/schema.js';
import { measureYaml } from '../manifest/yaml-shape.js';
import type { Registry } from '../registry.js';
import { isValidName } from '../../topology/index.js';
import { authenticate, environmentParam } from './access.js';
import { readBody, type RequestBody } from './body.js';

export interface AdminState {
  principal?: Principal;
}
type Ctx = ParameterizedContext<AdminState>;

/** The header naming the file a YAML body was read from, so errors can name it. */
export const SOURCE_FILE_HEADER = 'x-waymark-source-file';
const DEFAULT_FILE = '(request body)';
/** A promotion request is a few names and flags. */
const PROMOTION_BODY_BYTES = 64 * 1024;

/** The admin API's routes (see openapi/waymark.yaml, tag `admin`). Every route but /healthz needs a token. */
export function adminRoutes(registry: Registry, tokens: TokenStore, maxBodyBytes: number): Router<AdminState> {
  const router = new Router<AdminState>();
  const authenticated = (ctx: Ctx): Principal => authenticate(ctx, tokens);
  const envParam = environmentParam;

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/v1/environments', async (ctx) => {
    authorize(authenticated(ctx), 'read');
    ctx.body = { environments: await registry.environments() };
  });

  router.post('/v1/environments/:env/apply', async (ctx) => {
    const principal = authenticated(ctx);
    const env = envParam(ctx);
    authorize(principal, 'write', env);
    const dryRun = flag(ctx, 'dryRun');
    const prune = flag(ctx, 'prune');
    const body = await readBody(ctx.req, maxBodyBytes, ['yaml', 'json']);
    ctx.body = await registry.apply({ environment: env, sources: manifestSources(body, fileHeader(ctx), registry.manifestLimits), dryRun, prune, by: principal.name, role: principal.role });
  });

  router.get('/v1/environments/:env/history', async (ctx) => {
    authorize(authenticated(ctx), 'read');
    const env = envParam(ctx);
    ctx.body = { environment: env, records: await registry.history(env) };
  });

  router.get('/v1/environments/:env/history/:id', async (ctx) => {
    authorize(authenticated(ctx), 'read');
    const env = envParam(ctx);
    ctx.body = await registry.historyEntry(env, auditId((ctx.params as Record<string, string>).id));
  });

  router.post('/v1/environments/:env/rollback', async (ctx) => {
    const principal = authenticated(ctx);
    const env = envParam(ctx);
    authorize(principal, 'write', env);
    const body = await readBody(ctx.req, PROMOTION_BODY_BYTES, ['json']);
    const req = rollbackRequest(body.text);
    ctx.body = await registry.rollback({ environment: env, to: req.to, ...(req.dryRun !== undefined ? { dryRun: req.dryRun } : {}), by: principal.name, role: principal.role });
  });

  router.get('/v1/environments/:env/topology', async (ctx) => {
    authorize(authenticated(ctx), 'read');
    ctx.body = await registry.topology(envParam(ctx));
  });

  router.get('/v1/environments/:env/status', async (ctx) => {
    authorize(authenticated(ctx), 'read');
    ctx.body = await registry.status(envParam(ctx));
  });

  router.post('/v1/promotions', async (ctx) => {
    const principal = authenticated(ctx);
    const body = await readBody(ctx.req, PROMOTION_BODY_BYTES, ['json']);
    const req = promotionRequest(body.text);
    authorize(principal, 'write', req.to);
    ctx.body = await registry.promote({ ...req, by: principal.name, role: principal.role });
  });

  return router;
}

function flag(ctx: Ctx, name: string): boolean {
  const v = ctx.query[name];
  if (v === undefined) return false;
  const s = Array.isArray(v) ? v[v.length - 1] : v;
  if (s === '' || s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw new BadRequestError(`query parameter ${name}=${JSON.stringify(s)} is not a boolean: use true or false`);
}

function fileHeader(ctx: Ctx): string | undefined {
  const v = ctx.get(SOURCE_FILE_HEADER);
  // A file name for messages only: bounded, printable.
  return v ? v.replace(/[^\x20-\x7e]/g, '?').slice(0, 256) : undefined;
}

/**
 * The sources of an apply body: YAML (one file), or JSON: an array of resources, `{documents,
 * file?}`, or `{sources: [{file, content}]}` (several files, each with its own line numbers).
 */
function manifestSources(body: RequestBody, headerFile: string | undefined, limits: ManifestLimits): ManifestSource[] {
  const file = headerFile ?? DEFAULT_FILE;
  const within = (): boolean => {
    const maxEntries = limits.maxEntries ?? MANIFEST_DEFAULTS.maxEntries;
    const shape = measureYaml(body.text, limits.maxMappingKeys ?? MANIFEST_DEFAULTS.maxMappingKeys, maxEntries);
    return !shape.wide && shape.entries <= maxEntries;
  };
  // JSON.parse's time grows with an object's width too: a body over the limits is not parsed
  // here but handed to the loader, which refuses it before parsing.
  if (body.format === 'json' && within()) {
    let value: unknown;
    try {
      value = JSON.parse(body.text);
    } catch {
      // Let the YAML parser report the syntax error with its line and column.
      return [{ file, text: body.text }];
    }
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const v = value as { sources?: unknown; file?: unknown };
      if (Array.isArray(v.sources)) return v.sources.map((s, i) => sourceEntry(s, i));
      if (typeof v.file === 'string' && !headerFile) return [{ file: v.file.slice(0, 256), text: body.text }];
    }
  }
  return [{ file, text: body.text }];
}

function sourceEntry(s: unknown, i: number): ManifestSource {
  const e = s as { file?: unknown; content?: unknown } | null;
  if (!e || typeof e.content !== 'string') {
    throw new BadRequestError(`sources[${i}] needs {file, content}: content is the text of a manifest file`);
  }
  return { file: typeof e.file === 'string' && e.file ? e.file.slice(0, 256) : `sources[${i}]`, text: e.content };
}

function promotionRequest(text: string): PromotionRequest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`the promotion request is not JSON: ${(err as Error).message}`);
  }
  const r = v as Partial<PromotionRequest> | null;
  if (!r || typeof r !== 'object') throw new BadRequestError('the promotion request must be {"from": ENV, "to": ENV}');
  for (const k of Object.keys(r)) {
    if (!['from', 'to', 'dryRun', 'prune'].includes(k)) throw new BadRequestError(`unknown field ${JSON.stringify(k)} in the promotion request: expected from, to, dryRun, prune`);
  }
  if (!isValidName(r.from) || !isValidName(r.to)) throw new BadRequestError('the promotion request needs "from" and "to": two environment names');
  for (const k of ['dryRun', 'prune'] as const) {
    if (r[k] !== undefined && typeof r[k] !== 'boolean') throw new BadRequestError(`"${k}" must be true or false`);
  }
  return { from: r.from, to: r.to, ...(r.dryRun !== undefined ? { dryRun: r.dryRun } : {}), ...(r.prune !== undefined ? { prune: r.prune } : {}) };
}

function auditId(text: string | undefined): number {
  const id = Number(text);
  if (!text || !/^\d{1,15}$/.test(text) || !Number.isSafeInteger(id) || id < 1) {
    throw new BadRequestError(`audit record id ${JSON.stringify(text)} is not a positive integer: see \`waymark history\``);
  }
  return id;
}

function rollbackRequest(text: string): RollbackRequest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`the rollback request is not JSON: ${(err as Error).message}`);
  }
  const r = v as Partial<RollbackRequest> | null;
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw new BadRequestError('the rollback request must be {"to": ID}');
  for (const k of Object.keys(r)) {
    if (!['to', 'dryRun'].includes(k)) throw new BadRequestError(`unknown field ${JSON.stringify(k)} in the rollback request: expected to, dryRun`);
  }
  if (!Number.isSafeInteger(r.to) || (r.to as number) < 1) throw new BadRequestError('the rollback request needs "to": the id of an audit record (a positive integer)');
  if (r.dryRun !== undefined && typeof r.dryRun !== 'boolean') throw new BadRequestError('"dryRun" must be true or false');
  return { to: r.to as number, ...(r.dryRun !== undefined ? { dryRun: r.dryRun } : {}) };
}
