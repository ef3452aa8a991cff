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

/** The manifests of one apply as checked so far, problems or not (see checkManifests). */
export interface CheckedManifests extends LoadedManifests {
  /** Regions whose document has problems that keep it from being built (they are reported). */
  brokenRegions: Set<string>;
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
  const { environment: env, resources } = checkManifests(sources, environment, problems, limits, promotedFrom);
  problems.throwIfAny();
  return { ...(env ? { environment: env } : {}), resources };
}

/**
 * loadManifests without throwing: adds every problem to `problems` and returns each document that
 * could be built, with problems or not, so an apply can go on to check the documents against
 * each other and the stored state, and report everything in one rejection. Whatever it returns
 * must not be written unless `problems` stayed empty.
 */
export function checkManifests(
  sources: readonly ManifestSource[],
  environment: string,
  problems: Problems,
  limits: ManifestLimits = {},
  promotedFrom?: string,
): CheckedManifests {
  const before = problems.size;
  const documents = parseManifests(sources, problems, limits);
  const manifests: LocatedManifest[] = [];
  const refs: DocumentRef[] = [];
  const brokenRegions = new Set<string>();
  const remedy = promotedFrom
    ? `the source applied to environment ${promotedFrom} cannot be promoted: apply ${promotedFrom} again with the value written out (or the field fixed), then promote`
    : 'write the value itself';
  for (const doc of documents) {
    const { located, ref } = checkDocument(doc, problems);
    checkPrivateVariables(doc, problems, remedy);
    if (located) manifests.push(located);
    else if (ref?.kind === 'Region') brokenRegions.add(ref.name);
    if (ref) refs.push(ref);
  }
  checkManifestSet(refs, environment, problems);
  if (problems.size === before && manifests.length === 0) {
    problems.add({ origin: { file: sources[0]?.file ?? '(request)', document: 0 } }, 'no resources to apply: give at least one Region or Service document');
  }
  const out: CheckedManifests = { resources: [], brokenRegions };
  for (const m of manifests) {
    if (m.manifest.kind === 'Environment') out.environment = m.manifest.spec;
    else out.resources.push(m);
  }
  return out;
}
