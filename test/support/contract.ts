import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * The contract (openapi/waymark.yaml) as a checker of responses our servers sent: matches a
 * response to its operation by role (which server sent it), method and path template, then checks
 * that its status is declared, that the headers the contract requires are there, and that a JSON
 * body conforms to the declared schema.
 */

/** Which of our servers answered: a gateway (tags discovery, proxy) or the registry (tag admin). */
export type ServerRole = 'gateway' | 'registry';

/** A response as the test observed it. */
export interface ObservedResponse {
  role: ServerRole;
  method: string;
  /** Path of the request (query ignored). */
  path: string;
  status: number;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The body's text; undefined when it was not read (a stream, a body never finished). */
  body?: string;
}

export interface Verdict {
  /** The path template the response was matched to (`(no path)` when none). */
  template: string;
  /** True for a service's answer a gateway relayed: only its status is checked. */
  proxied: boolean;
  /** Why the response breaks the contract (empty when it conforms). */
  problems: string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Operation {
  responses: JsonObject;
}

interface PathEntry {
  template: string;
  pattern: RegExp;
  catchAll: boolean;
  roles: Set<ServerRole>;
  operations: Map<string, Operation>;
}

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'];
const SCHEMA_ID = 'https://waymark.invalid/openapi/waymark.yaml';
const CONTRACT_FILE = new URL('../../openapi/waymark.yaml', import.meta.url);
// ajv-formats is CommonJS: its default export arrives as the module object under some loaders.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void;

export class Contract {
  private readonly paths: PathEntry[];
  private readonly ajv: Ajv2020;
  private readonly compiled = new WeakMap<object, ValidateFunction>();

  private constructor(private readonly doc: JsonObject) {
    // Schemas are JSON Schema 2020-12 (OpenAPI 3.1); `#/components/...` references are made
    // absolute so inline schemas of operations resolve them too.
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: SCHEMA_ID, components: { schemas: absoluteRefs(asObject(asObject(doc.components).schemas)) } });
    const entries: PathEntry[] = [];
    for (const [template, item] of Object.entries(asObject(doc.paths))) {
      const pathItem = asObject(item);
      const operations = new Map<string, Operation>();
      const roles = new Set<ServerRole>();
      for (const method of METHODS) {
        const op = pathItem[method];
        if (!op) continue;
        const operation = asObject(op);
        operations.set(method.toUpperCase(), { responses: asObject(operation.responses) });
        for (const tag of (operation.tags as string[] | undefined) ?? []) {
          if (tag === 'admin') roles.add('registry');
          else roles.add('gateway');
        }
      }
      const catchAll = pathItem['x-waymark-catch-all'] === true;
      entries.push({ template, pattern: templatePattern(template, catchAll), catchAll, roles, operations });
    }
    // The catch-all (the gateway's proxy surface) is tried last.
    this.paths = [...entries.filter((e) => !e.catchAll), ...entries.filter((e) => e.catchAll)];
  }

  static load(file: URL | string = CONTRACT_FILE): Contract {
    return new Contract(asObject(parse(readFileSync(file, 'utf8')) as Json));
  }

  check(r: ObservedResponse): Verdict {
    const entry = this.paths.find((p) => p.roles.has(r.role) && p.pattern.test(r.path));
    if (!entry) {
      // A path the server does not declare: the contract's description says both answer 404.
      const problems = r.status === 404 ? this.checkError(r) : [`status ${r.status} on a path the contract does not declare (expected 404)`];
      return { template: '(no path)', proxied: false, problems };
    }
    const verdict = (problems: string[], proxied = false): Verdict => ({ template: entry.template, proxied, problems });
    const op = entry.operations.get(r.method) ?? (r.method === 'HEAD' ? entry.operations.get('GET') : undefined);
    if (!op) {
      // A method the path does not serve: 405 with Allow (a gateway), 404 (the registry), or a
      // CORS preflight's 204 on a gateway's discovery paths.
      if (r.method === 'OPTIONS' && r.status === 204 && r.role === 'gateway') return verdict([]);
      if (r.status === 405) return verdict([...(r.headers.allow ? [] : ['405 without Allow']), ...this.checkError(r)]);
      if (r.status === 404) return verdict(this.checkError(r));
      return verdict([`status ${r.status} for ${r.method}, which the path does not declare (expected 404 or 405)`]);
    }
    const status = String(r.status);
    const declared = op.responses[status] ?? op.responses[`${status[0]}XX`];
    if (entry.catchAll && r.headers.via !== undefined && op.responses.default !== undefined) {
      // A service's answer, relayed: any status, any body.
      return verdict(this.checkHeaders(r, this.resolve(op.responses.default)), true);
    }
    if (declared === undefined) {
      const also = entry.catchAll ? ' (and no Via: not a relayed answer)' : '';
      return verdict([`status ${r.status} is not declared${also}`]);
    }
    const response = this.resolve(declared);
    return verdict([...this.checkHeaders(r, response), ...this.checkBody(r, response)]);
  }

  /** A response's required headers are present, and integer ones are integers. */
  private checkHeaders(r: ObservedResponse, response: JsonObject): string[] {
    const problems: string[] = [];
    for (const [name, ref] of Object.entries(asObject(response.headers ?? {}))) {
      const header = this.resolve(ref);
      const value = r.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required === true) problems.push(`header ${name} is required`);
        continue;
      }
      const schema = asObject(header.schema ?? {});
      if (schema.type === 'integer' && !/^-?\d+$/.test(value.trim())) problems.push(`header ${name}: ${JSON.stringify(value)} is not an integer`);
    }
    return problems;
  }

  private checkBody(r: ObservedResponse, response: JsonObject): string[] {
    const content = response.content === undefined ? undefined : asObject(response.content);
    // No body to look at: HEAD, 204/304, or a body the observer did not read (a stream).
    if (!content || r.method === 'HEAD' || r.status === 204 || r.status === 304) return [];
    const type = (r.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const media = content[type];
    if (media === undefined) return [`content type ${JSON.stringify(type)} is not declared (${Object.keys(content).join(', ')})`];
    if (r.body === undefined || !isJson(type)) return [];
    const schema = asObject(media).schema;
    if (schema === undefined) return [];
    let value: unknown;
    try {
      value = JSON.parse(r.body);
    } catch {
      return [`the ${type} body is not JSON: ${JSON.stringify(r.body.slice(0, 80))}`];
    }
    const validate = this.validator(asObject(schema));
    if (validate(value)) return [];
    return (validate.errors ?? []).slice(0, 10).map((e) => `body${e.instancePath}: ${e.message ?? 'invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  }

  /** An error answer outside any declared operation: the contract's Error schema. */
  private checkError(r: ObservedResponse): string[] {
    return this.checkBody(r, this.resolve({ $ref: '#/components/responses/Error' }));
  }

  private validator(schema: JsonObject): ValidateFunction {
    let fn = this.compiled.get(schema);
    if (!fn) {
      fn = this.ajv.compile(absoluteRefs(schema) as object);
      this.compiled.set(schema, fn);
    }
    return fn;
  }

  /** Follows a `#/components/...` reference (responses, headers) within the contract. */
  private resolve(node: Json | undefined): JsonObject {
    let obj = asObject(node ?? {});
    for (let hops = 0; typeof obj.$ref === 'string' && hops < 10; hops++) {
      let at: Json = this.doc;
      for (const part of obj.$ref.replace(/^#\//, '').split('/')) at = asObject(at)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
      obj = asObject(at);
    }
    return obj;
  }
}

function templatePattern(template: string, catchAll: boolean): RegExp {
  if (catchAll) return /^\/.*$/;
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

function isJson(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

function asObject(value: Json | undefined): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`the contract has ${JSON.stringify(value)} where an object belongs`);
  return value;
}

/** A copy of a schema whose `#/...` references point into the schema added as SCHEMA_ID. */
function absoluteRefs(node: Json): Json {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${SCHEMA_ID}${v}` : absoluteRefs(v);
  return out;
}
