/**
 * Field rules shared by the record and document validators: the contract's primitive schemas
 * (`Name`, `Jurisdiction`, `Label`, date-time, integers) as checks that add to a ProblemList list.
 * Each returns whether the value passed, so callers can go on with cross-references.
 */
import { basePathProblem } from './base-path.js';
import { isValidJurisdiction, isValidName } from './names.js';
import { at, type ProblemList } from './problems.js';
import { serviceLinkProblem } from './service-link.js';
import { gatewayUrlProblem, upstreamUrlProblem } from './url.js';

export type Obj = Record<string, unknown>;

/** Free text that reaches people (`#/components/schemas/Label`): bounded, no control characters. */
export const MAX_LABEL_LENGTH = 128;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** RFC 3339 date-time, as the contract's `format: date-time` (and ajv-formats) reads it. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An object, or a problem; then only the listed fields (the contract's `additionalProperties: false`). */
export function object(v: unknown, path: string, p: ProblemList, allowed?: readonly string[]): v is Obj {
  if (!isObject(v)) {
    p.add(path, 'must be an object');
    return false;
  }
  if (allowed) {
    for (const k of Object.keys(v)) if (!allowed.includes(k)) p.add(at(path, k), 'is not a known field');
  }
  return true;
}

export function required(o: Obj, fields: readonly string[], path: string, p: ProblemList): void {
  for (const f of fields) if (o[f] === undefined) p.add(at(path, f), 'is required');
}

export function name(v: unknown, path: string, p: ProblemList): v is string {
  if (isValidName(v)) return true;
  p.add(path, 'must be a DNS label (lowercase letters, digits, "-")');
  return false;
}

export function jurisdiction(v: unknown, path: string, p: ProblemList): v is string {
  if (isValidJurisdiction(v)) return true;
  p.add(path, 'must be like "EU" or "US"');
  return false;
}

export function label(v: unknown, path: string, p: ProblemList): void {
  if (typeof v !== 'string') p.add(path, 'must be a string');
  else if (v.length > MAX_LABEL_LENGTH) p.add(path, `must be at most ${MAX_LABEL_LENGTH} characters`);
  else if (CONTROL.test(v)) p.add(path, 'must not contain control characters');
}

export function text(v: unknown, path: string, p: ProblemList, max: number): void {
  if (typeof v !== 'string') p.add(path, 'must be a string');
  else if (v.length > max) p.add(path, `must be at most ${max} characters`);
}

export function boolean(v: unknown, path: string, p: ProblemList): void {
  if (typeof v !== 'boolean') p.add(path, 'must be a boolean');
}

export function count(v: unknown, path: string, p: ProblemList): void {
  if (!Number.isSafeInteger(v) || (v as number) < 0) p.add(path, 'must be an integer ≥ 0');
}

export function oneOf(v: unknown, values: readonly string[], path: string, p: ProblemList): void {
  if (typeof v !== 'string' || !values.includes(v)) p.add(path, `must be ${values.map((x) => `"${x}"`).join(', ').replace(/, ([^,]*)$/, ' or $1')}`);
}

export function dateTime(v: unknown, path: string, p: ProblemList): void {
  if (!isDateTime(v)) p.add(path, 'must be a date-time (RFC 3339)');
}

function isDateTime(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > 64) return false;
  const m = DATE_TIME.exec(v);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const days = [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  const offsetOk = m[9] === undefined || (Number(m[9]) <= 23 && Number(m[10]) <= 59);
  return month >= 1 && month <= 12 && day >= 1 && day <= days[month - 1] && hour <= 23 && minute <= 59 && second <= 59 && offsetOk;
}

/** An array, each item checked by `item`; `max` bounds its length. */
export function array(v: unknown, path: string, p: ProblemList, item: (x: unknown, path: string) => void, max = Number.POSITIVE_INFINITY): v is unknown[] {
  if (!Array.isArray(v)) {
    p.add(path, 'must be an array');
    return false;
  }
  if (v.length > max) {
    p.add(path, `must have at most ${max} items`);
    return false;
  }
  for (let i = 0; i < v.length; i++) item(v[i], at(path, i));
  return true;
}

export function basePath(v: unknown, path: string, p: ProblemList): void {
  const problem = basePathProblem(v);
  if (problem) p.add(path, problem);
}

export function gatewayUrl(v: unknown, path: string, p: ProblemList): v is string {
  const problem = gatewayUrlProblem(v);
  if (problem) p.add(path, problem);
  return problem === undefined;
}

export function upstreamUrl(v: unknown, path: string, p: ProblemList): void {
  const problem = upstreamUrlProblem(v);
  if (problem) p.add(path, problem);
}

/** A service's `docs` or `openapi` link (`#/components/schemas/ServiceLink`), given its base path. */
export function serviceLink(v: unknown, basePath: unknown, path: string, p: ProblemList): void {
  if (typeof basePath !== 'string' || basePathProblem(basePath) !== undefined) return;
  const problem = serviceLinkProblem(v, basePath);
  if (problem) p.add(path, problem);
}

/** A Link of the contract: `{href, templated?, title?, type?}`. */
export function link(v: unknown, path: string, p: ProblemList): void {
  if (!object(v, path, p)) return;
  text(v.href, at(path, 'href'), p, 4096);
  if (v.templated !== undefined) boolean(v.templated, at(path, 'templated'), p);
  if (v.title !== undefined) text(v.title, at(path, 'title'), p, 4096);
  if (v.type !== undefined) text(v.type, at(path, 'type'), p, 4096);
}
