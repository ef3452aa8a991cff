/**
 * The discovery part of the contract, as the gateways publish it (RFC 8631 `service-desc`): the
 * operations tagged `discovery` and the components they reference, transitively. Extracted at
 * build time (`npm run generate`) so a gateway serves committed bytes and never parses YAML.
 * Pure: no file system, so the staleness test and the generator share it.
 */
import { parse, stringify } from 'yaml';

/** The tag of the operations a gateway serves. */
export const DISCOVERY_TAG = 'discovery';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The description served by gateways, from the whole contract (parsed YAML). Path items keep
 * only their discovery operations; `servers` is the gateway that served it (a relative URL
 * resolves against the description's own URL, OpenAPI 3.1 §4.8.5), so the bytes are the same on
 * every gateway.
 */
export function extractDiscovery(contract: unknown): JsonObject {
  const spec = contract as JsonObject;
  if (!isObject(spec) || !isObject(spec.paths) || !isObject(spec.components)) throw new Error('not an OpenAPI document with paths and components');
  const paths: JsonObject = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    if (!isObject(item)) continue;
    const kept: JsonObject = {};
    for (const [key, value] of Object.entries(item)) {
      const isOperation = (METHODS as readonly string[]).includes(key);
      // A path's own `servers` name the local stack's processes (the registry too, for paths
      // both serve): here the server is the gateway that served the description.
      if (!isOperation) {
        if (key !== 'servers') kept[key] = value;
      }
      else if (isObject(value) && Array.isArray(value.tags) && value.tags.includes(DISCOVERY_TAG)) {
        kept[key] = { ...value, tags: [DISCOVERY_TAG] };
      }
    }
    if (METHODS.some((m) => kept[m] !== undefined)) paths[path] = kept;
  }
  const components = referencedComponents(spec.components, paths);
  const info = isObject(spec.info) ? spec.info : {};
  const tags = Array.isArray(spec.tags) ? spec.tags.filter((t) => isObject(t) && t.name === DISCOVERY_TAG) : [];
  return {
    openapi: spec.openapi ?? '3.1.0',
    info: {
      ...info,
      title: `${typeof info.title === 'string' ? info.title : 'Waymark'} discovery`,
      summary: 'Public discovery API of a Waymark gateway: the topology document, its services, the API catalog, health.',
      description:
        'The part of the Waymark contract tagged `discovery`, served by every gateway as JSON and YAML (see the paths below). ' +
        'The server is the gateway that served this description.',
    },
    tags,
    servers: [{ url: '/', description: 'the gateway that served this description' }],
    security: [],
    paths,
    components,
  };
}

/** The components `root` references, transitively, in the contract's order. */
function referencedComponents(all: JsonObject, root: Json): JsonObject {
  const wanted = new Set<string>();
  const visit = (node: Json | undefined): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!isObject(node)) return;
    const ref = node.$ref;
    if (typeof ref === 'string') {
      const m = /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref);
      if (!m) throw new Error(`unsupported $ref ${ref}: only #/components/<section>/<name>`);
      const key = `${m[1]}/${m[2]}`;
      if (!wanted.has(key)) {
        const section = all[m[1]!];
        const target = isObject(section) ? section[m[2]!] : undefined;
        if (target === undefined) throw new Error(`$ref ${ref} names no component`);
        wanted.add(key);
        visit(target);
      }
    }
    for (const [k, v] of Object.entries(node)) if (k !== '$ref') visit(v);
  };
  visit(root);
  const out: JsonObject = {};
  for (const [section, members] of Object.entries(all)) {
    if (!isObject(members)) continue;
    const kept: JsonObject = {};
    for (const [name, value] of Object.entries(members)) if (wanted.has(`${section}/${name}`)) kept[name] = value;
    if (Object.keys(kept).length > 0) out[section] = kept;
  }
  return out;
}

/**
 * Both serializations of the description of a contract (its YAML text): the same content, JSON
 * with a trailing newline and YAML without line folding, so the committed files diff cleanly.
 */
export function discoveryDescription(contractYaml: string): { json: string; yaml: string } {
  const description = extractDiscovery(parse(contractYaml));
  return { json: `${JSON.stringify(description, null, 2)}\n`, yaml: stringify(description, { lineWidth: 0, aliasDuplicateObjects: false }) };
}
