import { Problems } from './errors.js';
import { parseManifests, type ManifestSource } from './parse.js';
import { checkPrivateVariables } from './private-variables.js';
import type { EnvironmentSpec, LocatedManifest, ManifestLimits } from './schema.js';
import { checkDocument, checkManifestSet, type DocumentRef } from './validate.js';

/** The checked manifests of one apply, before variables are resolved. */
export interface LoadedManifests {
  /** The Environment document, when the set has one (it names the target environment). */
  environment?: EnvironmentSpec;
  /** Regions and services, in the order given. */
  resources: LocatedManifest[];
}

/**
 * Parses and checks the sources of an apply to `environment`: syntax, size, shape, names,
 * duplicates, variables only where they stay private. Throws a ValidationError naming every
 * problem; nothing of etcd is needed yet. `promotedFrom` names the environment whose stored
 * source is being promoted, so a problem says to fix that environment.
 */
export function loadManifests(
  sources: readonly ManifestSource[],
  environment: string,
  limits: ManifestLimits = {},
  promotedFrom?: string,
): LoadedManifests {
  const problems = new Problems();
  const documents = parseManifests(sources, problems, limits);
  const manifests: LocatedManifest[] = [];
  const refs: DocumentRef[] = [];
  const remedy = promotedFrom
    ? `the source applied to environment ${promotedFrom} cannot be promoted: apply ${promotedFrom} again with the value written out (or the field fixed), then promote`
    : 'write the value itself';
  for (const doc of documents) {
    const { located, ref } = checkDocument(doc, problems);
    checkPrivateVariables(doc, problems, remedy);
    if (located) manifests.push(located);
    if (ref) refs.push(ref);
  }
  checkManifestSet(refs, environment, problems);
  if (problems.size === 0 && manifests.length === 0) {
    problems.add({ origin: { file: sources[0]?.file ?? '(request)', document: 0 } }, 'no resources to apply: give at least one Region or Service document');
  }
  problems.throwIfAny();
  const out: LoadedManifests = { resources: [] };
  for (const m of manifests) {
    if (m.manifest.kind === 'Environment') out.environment = m.manifest.spec;
    else out.resources.push(m);
  }
  return out;
}
