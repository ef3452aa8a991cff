import { isDeepStrictEqual } from 'node:util';
import type { DiffSummary, FieldChange, RegionDefinition, ResourceRef, ResourceUpdate, ServiceDefinition } from '../../openapi/index.js';
import type { KeyLayout } from '../../store/keys.js';
import type { Mutation } from '../../store/writer.js';
import { sourceMutations } from './source.js';
import type { EnvironmentState, StoredEnvironment } from './state.js';

/** The state an apply wants for the resources it names. */
export interface DesiredState {
  /** New variables, when the apply has an Environment document. */
  variables?: Record<string, string>;
  regions: ReadonlyMap<string, RegionDefinition>;
  services: ReadonlyMap<string, ServiceDefinition>;
  /** The encoded source to store. */
  sourceText: string;
}

/** The diff of an apply and the etcd writes that make it. */
export interface Plan {
  created: ResourceRef[];
  updated: ResourceUpdate[];
  deleted: ResourceRef[];
  unchanged: ResourceRef[];
  summary: DiffSummary;
  /** Every write, source chunks included; empty when the apply changes nothing. */
  mutations: Mutation[];
}

/** Compares the desired state with the stored one. With `prune`, resources not named are deleted. */
export function planChanges(layout: KeyLayout, current: EnvironmentState, desired: DesiredState, prune: boolean, chunkChars?: number): Plan {
  const env = current.environment;
  const plan: Plan = { created: [], updated: [], deleted: [], unchanged: [], summary: { created: 0, updated: 0, deleted: 0, unchanged: 0 }, mutations: [] };

  if (desired.variables) {
    const ref: ResourceRef = { kind: 'Environment', name: env };
    const value: StoredEnvironment = { name: env, variables: desired.variables };
    if (!current.variables) {
      plan.created.push(ref);
    } else if (isDeepStrictEqual(current.variables, desired.variables)) {
      plan.unchanged.push(ref);
    } else {
      // Variables may be secrets: the diff names the ones that changed, never their values.
      const names = [...new Set([...Object.keys(current.variables), ...Object.keys(desired.variables)])].sort();
      const changes = names
        .filter((n) => current.variables![n] !== desired.variables![n])
        .map((n): FieldChange => ({ field: `spec.variables.${n}` }));
      plan.updated.push({ ...ref, changes });
    }
    if (!current.variables || !isDeepStrictEqual(current.variables, desired.variables)) {
      plan.mutations.push({ type: 'put', key: layout.environmentSpec(env), value: JSON.stringify(value) });
    }
  }

  if (current.legacyVariables) {
    // The move out of the gateways' range (see KeyLayout): the variables are kept, at their new key.
    const variables = desired.variables ?? current.variables;
    const written = plan.mutations.some((m) => m.key === layout.environmentSpec(env));
    if (variables && !written) {
      const value: StoredEnvironment = { name: env, variables };
      plan.mutations.push({ type: 'put', key: layout.environmentSpec(env), value: JSON.stringify(value) });
    }
    plan.mutations.push({ type: 'delete', key: layout.legacyEnvironmentSpec(env) });
  }

  const invalidNames = (kind: 'region' | 'service') =>
    new Set(current.invalid.flatMap((r) => {
      const parsed = layout.parse(env, r.key);
      return parsed?.kind === kind ? [parsed.name] : [];
    }));
  diffKind(plan, 'Region', current.regions, invalidNames('region'), desired.regions, prune, (name) => layout.region(env, name));
  diffKind(plan, 'Service', current.services, invalidNames('service'), desired.services, prune, (name) => layout.service(env, name));

  if (desired.sourceText !== current.sourceText) {
    plan.mutations.push(...sourceMutations(layout, env, desired.sourceText, current.sourceChunks, chunkChars));
  }
  plan.summary = {
    created: plan.created.length,
    updated: plan.updated.length,
    deleted: plan.deleted.length,
    unchanged: plan.unchanged.length,
  };
  return plan;
}

function diffKind<T extends { name: string }>(
  plan: Plan,
  kind: 'Region' | 'Service',
  current: ReadonlyMap<string, T>,
  /** Names whose stored value is invalid: replaced when desired (a create), deleted by a prune. */
  invalid: ReadonlySet<string>,
  desired: ReadonlyMap<string, T>,
  prune: boolean,
  key: (name: string) => string,
): void {
  for (const name of [...desired.keys()].sort()) {
    const want = desired.get(name)!;
    const have = current.get(name);
    if (!have) {
      plan.created.push({ kind, name });
    } else if (isDeepStrictEqual(normal(have), normal(want))) {
      plan.unchanged.push({ kind, name });
      continue;
    } else {
      plan.updated.push({ kind, name, changes: fieldChanges(have, want) });
    }
    plan.mutations.push({ type: 'put', key: key(name), value: JSON.stringify(want) });
  }
  if (!prune) return;
  for (const name of [...new Set([...current.keys(), ...invalid])].sort()) {
    if (desired.has(name)) continue;
    plan.deleted.push({ kind, name });
    plan.mutations.push({ type: 'delete', key: key(name) });
  }
}

/** JSON round trip: drops undefined fields so a stored record and a rendered one compare equal. */
function normal(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/**
 * Changed fields as `spec.<path>` (the manifest's field names): objects and equal-length lists
 * are compared element by element, anything else as a whole.
 */
export function fieldChanges(from: object, to: object): FieldChange[] {
  const out: FieldChange[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (isDeepStrictEqual(normal(a ?? null), normal(b ?? null))) return;
    if (isRecord(a) && isRecord(b)) {
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[k], b[k], `${path}.${k}`);
      return;
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.some((x) => typeof x === 'object')) {
      a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`));
      return;
    }
    const change: FieldChange = { field: path };
    if (a !== undefined) change.from = a;
    if (b !== undefined) change.to = b;
    out.push(change);
  };
  const { name: _a, ...fromSpec } = from as Record<string, unknown>;
  const { name: _b, ...toSpec } = to as Record<string, unknown>;
  walk(fromSpec, toSpec, 'spec');
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
