import type { InvalidRecord, RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import type { KeyLayout } from '../../store/keys.js';
import { checkRecord } from '../../topology/index.js';
import type { Problems, ProblemSubject } from '../manifest/errors.js';
import type { PathSegment } from '../manifest/schema.js';
import type { Placed } from '../manifest/validate.js';

/**
 * The last check before writing: every record the apply stores (those set by a manifest of the
 * apply) must pass the core validator of its kind, the rule every gateway and reader applies.
 * Manifest validation should already have caught anything this catches; when it did not, the
 * apply is rejected here (422 naming the manifest's file and field; nothing written) rather than
 * stored as a record every reader would skip.
 */
export function checkBeforeWriting(
  regions: ReadonlyMap<string, Placed<RegionDefinition>>,
  services: ReadonlyMap<string, Placed<ServiceDefinition>>,
  problems: Problems,
): void {
  const check = (kind: 'region' | 'service', resource: 'Region' | 'Service', name: string, placed: Placed<unknown>) => {
    if (!placed.from) return;
    const checked = checkRecord(kind, placed.value, { name });
    if (checked.ok) return;
    for (const problem of checked.problems) {
      const path = manifestPath(problem);
      const subject: ProblemSubject = { origin: placed.from.origin, kind: resource, name, ...(path ? { path, position: placed.from.locate(path) } : {}) };
      problems.add(subject, `the record to be stored would be invalid (${problem}): nothing was written`);
    }
  };
  for (const [name, placed] of regions) check('region', 'Region', name, placed);
  for (const [name, placed] of services) check('service', 'Service', name, placed);
}

/** `deployments[0].upstreams[1]: …` → `spec.deployments[0].upstreams[1]` of the manifest (`name` is `metadata.name`). */
function manifestPath(problem: string): PathSegment[] | undefined {
  const colon = problem.indexOf(': ');
  if (colon <= 0) return undefined;
  const segments: PathSegment[] = [];
  for (const m of problem.slice(0, colon).matchAll(/([^.[\]]+)|\[(\d+)\]/g)) segments.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return segments[0] === 'name' ? ['metadata', 'name'] : ['spec', ...segments];
}

/**
 * A service of the apply that names a region whose stored record is invalid (quarantined, so
 * unknown to the apply): says which key and why, next to validateTopology's "not defined", and
 * how to fix it. Nothing else is blocked by a quarantined key.
 */
export function explainQuarantinedRegions(
  layout: KeyLayout,
  env: string,
  invalid: readonly InvalidRecord[],
  regions: ReadonlyMap<string, Placed<RegionDefinition>>,
  services: ReadonlyMap<string, Placed<ServiceDefinition>>,
  problems: Problems,
): void {
  const quarantined = new Map<string, InvalidRecord>();
  for (const r of invalid) {
    const parsed = layout.parse(env, r.key);
    if (parsed?.kind === 'region' && !regions.has(parsed.name)) quarantined.set(parsed.name, r);
  }
  if (quarantined.size === 0) return;
  for (const [name, placed] of services) {
    if (!placed.from) continue;
    placed.value.deployments.forEach((d, i) => {
      const bad = quarantined.get(d.region);
      if (!bad) return;
      const path: PathSegment[] = ['spec', 'deployments', i, 'region'];
      problems.add(
        { origin: placed.from!.origin, kind: 'Service', name, path, position: placed.from!.locate(path) },
        `region ${d.region} is stored with an invalid value (${bad.key}: ${bad.reason}): apply a Region document for it to replace it`,
      );
    });
  }
}
