import type { RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { checkRecord } from '../../topology/index.js';
import type { Problems } from '../manifest/errors.js';

/**
 * The last check before writing: every record the apply stores must pass the core validator of
 * its kind, the rule every gateway and reader applies. Manifest validation should already have
 * caught anything this catches; when it did not, the apply is rejected here (422, nothing
 * written) rather than stored as a record every reader would skip.
 */
export function checkBeforeWriting(
  regions: ReadonlyMap<string, RegionDefinition>,
  services: ReadonlyMap<string, ServiceDefinition>,
  problems: Problems,
): void {
  const check = (kind: 'region' | 'service', resource: 'Region' | 'Service', name: string, value: unknown) => {
    const checked = checkRecord(kind, value, { name });
    if (checked.ok) return;
    for (const problem of checked.problems) {
      problems.add({ kind: resource, name }, `the record to be stored would be invalid (${problem}): nothing was written`);
    }
  };
  for (const [name, value] of regions) check('region', 'Region', name, value);
  for (const [name, value] of services) check('service', 'Service', name, value);
}
