import type { Problems } from './errors.js';
import type { ParsedDocument } from './parse.js';
import { substitute } from './render.js';
import { fieldPath, type PathSegment } from './schema.js';

/**
 * Variables stay private: only a deployment's upstreams and a service's CORS origins may use `${name}`. Every other field of a
 * Region or Service reaches the public topology document (`/.well-known/topology`), which any
 * client can read, so a variable there would publish its value (a secret of the target
 * environment, when a source is promoted). Checked on every apply and promotion, before anything
 * is rendered, so neither a dry run nor a diff ever shows a value in a public field. Checked on
 * the document as parsed, so a `${var}` is named as such even where the field is invalid too.
 */
export function checkPrivateVariables(doc: ParsedDocument, problems: Problems, remedy: string): void {
  const root = doc.value as { kind?: unknown; metadata?: { name?: unknown }; spec?: unknown } | null;
  if (!root || typeof root !== 'object' || (root.kind !== 'Region' && root.kind !== 'Service')) return;
  const kind = root.kind;
  const name = typeof root.metadata?.name === 'string' ? root.metadata.name.slice(0, 100) : undefined;
  const walk = (value: unknown, path: PathSegment[]): void => {
    if (typeof value === 'string') {
      if (isPrivate(path)) return;
      // `$${name}` is a literal, not a reference: substitute() reports only real references.
      const names = substitute(value, {}).missing;
      if (names.length === 0) return;
      problems.add(
        { origin: doc.origin, kind, name, path, position: doc.locate(path) },
        `\${${names[0]}} in ${fieldPath(path)}: variables may only be used in spec.deployments[].upstreams and spec.cors.allowOrigins[], because ${fieldPath(path)} is published in the public topology document; ${remedy}`,
      );
      return;
    }
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(root.spec, ['spec']);
}

/**
 * The non-public strings of a manifest: `spec.deployments[i].upstreams[j]`, and a Service's
 * `spec.cors.allowOrigins[i]` (kept in the record for the gateways, never published; a page's
 * origin differs between environments).
 */
function isPrivate(path: readonly PathSegment[]): boolean {
  return (path.length === 5 && path[1] === 'deployments' && path[3] === 'upstreams') || (path.length === 4 && path[1] === 'cors' && path[2] === 'allowOrigins');
}
