import { readFileSync } from 'node:fs';

/**
 * The OpenAPI description of the discovery API that every gateway serves (RFC 8631
 * `service-desc`), generated at build time into openapi/generated/ (`npm run generate`). Under
 * /.well-known/topology/ so no service's base path can shadow it (base paths there are reserved).
 */
export const DESCRIPTION_JSON_PATH = '/.well-known/topology/openapi.json';
export const DESCRIPTION_YAML_PATH = '/.well-known/topology/openapi.yaml';

/**
 * `application/json` and `application/yaml` (RFC 8259, RFC 9512): `application/openapi+json` and
 * `+yaml` are still an Internet-Draft (draft-ietf-httpapi-rest-api-mediatypes), unregistered, and
 * the registered types let any JSON or YAML client read the description.
 */
export const DESCRIPTION_JSON_TYPE = 'application/json';
export const DESCRIPTION_YAML_TYPE = 'application/yaml';

/** The description's files: beside this module's directory in sources (tsx) and in dist/ (the build copies them). */
const GENERATED = new URL('../openapi/generated/', import.meta.url);

let loaded: { json: Buffer; yaml: Buffer } | undefined;

/** The description's bytes, read once: they belong to the gateway's build, not to a revision. */
export function descriptionBytes(): { json: Buffer; yaml: Buffer } {
  loaded ??= {
    json: readFileSync(new URL('discovery.json', GENERATED)),
    yaml: readFileSync(new URL('discovery.yaml', GENERATED)),
  };
  return loaded;
}
