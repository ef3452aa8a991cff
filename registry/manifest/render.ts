import type { RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import type { Problems } from './errors.js';
import type { LocatedManifest, PathSegment, RegionSpec, ServiceSpec } from './schema.js';

/** `${name}` is replaced by the variable; `$${name}` stays a literal `${name}`. */
const REFERENCE = /\$(\$?)\{([^}]*)\}/g;

/** Substitutes `${var}` references; returns the text and the names that have no value. */
export function substitute(text: string, variables: Readonly<Record<string, string>>): { text: string; missing: string[] } {
  const missing: string[] = [];
  const out = text.replace(REFERENCE, (whole, escape: string, name: string) => {
    if (escape) return whole.slice(1);
    const value = Object.hasOwn(variables, name) ? variables[name] : undefined;
    if (value === undefined) {
      missing.push(name);
      return whole;
    }
    return value;
  });
  return { text: out, missing };
}

export type Rendered =
  | { kind: 'Region'; definition: RegionDefinition }
  | { kind: 'Service'; definition: ServiceDefinition };

/**
 * Resolves the variables of a Region or Service manifest into the record stored in etcd. Every
 * string of the spec may use `${var}`; an undefined one is a problem naming the field.
 */
export function renderManifest(
  located: LocatedManifest,
  variables: Readonly<Record<string, string>>,
  environment: string,
  problems: Problems,
): Rendered | undefined {
  const m = located.manifest;
  if (m.kind === 'Environment') return undefined;
  let ok = true;
  const render = <T>(value: T, path: PathSegment[]): T => {
    if (typeof value === 'string') {
      const r = substitute(value, variables);
      for (const name of r.missing) {
        ok = false;
        problems.add(
          { origin: located.origin, kind: m.kind, name: m.name, path, position: located.locate(path) },
          `variable ${name} is not defined in environment ${environment}: add it to the Environment document's spec.variables`,
        );
      }
      return r.text as T;
    }
    if (Array.isArray(value)) return value.map((v, i) => render(v, [...path, i])) as T;
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, [...path, k])])) as T;
    }
    return value;
  };
  if (m.kind === 'Region') {
    const spec: RegionSpec = render(m.spec, ['spec']);
    return ok ? { kind: 'Region', definition: { name: m.name, ...spec } } : undefined;
  }
  const spec: ServiceSpec = render(m.spec, ['spec']);
  if (!ok) return undefined;
  const definition: ServiceDefinition = {
    name: m.name,
    basePath: spec.basePath,
    placement: spec.placement,
    ...(spec.jurisdictions ? { jurisdictions: spec.jurisdictions } : {}),
    ...(spec.failover ? { failover: spec.failover } : {}),
    ...(spec.docs !== undefined ? { docs: spec.docs } : {}),
    ...(spec.openapi !== undefined ? { openapi: spec.openapi } : {}),
    ...(spec.cors !== undefined ? { cors: spec.cors } : {}),
    deployments: spec.deployments.map((d) => ({ region: d.region, upstreams: d.upstreams })),
  };
  return { kind: 'Service', definition };
}
