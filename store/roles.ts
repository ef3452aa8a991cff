import { randomBytes } from 'node:crypto';
import { Range } from 'etcd3';
import { assertName, WaymarkError } from '../topology/index.js';
import type { EtcdConnection } from './etcd.js';
import type { KeyLayout } from './keys.js';
import { topologyRange } from './reader.js';

/** etcd's permission types, as its API names them. */
export type EtcdAccess = 'Read' | 'Write' | 'Readwrite';

/** One permission of a role: `[start, end)`, or the single key `start` when `end` is empty. */
export interface RoleGrant {
  access: EtcdAccess;
  start: string;
  end: string;
  /** What the range holds, for people. */
  what: string;
}

/** An etcd role and the user holding it (the role's name, but for the viewer's per-environment roles). */
export interface RoleSpec {
  name: string;
  user: string;
  kind: 'registry' | 'gateway' | 'viewer';
  environment?: string;
  region?: string;
  grants: RoleGrant[];
}

/** What to create roles for: each environment with the regions its gateways run in. */
export interface DeploymentScope {
  environments: ReadonlyArray<{ name: string; regions: readonly string[] }>;
}

/**
 * Names of the users and roles `deploymentRoles` makes: a gateway's is `<gateway>-<env>-<region>`;
 * the viewer user holds `<viewer>` and one `<viewer>-<env>` per environment, so that running the
 * command for one environment never touches what it granted for another.
 */
export const ROLE_NAMES = { registry: 'waymark-registry', viewer: 'waymark-viewer', gateway: 'waymark-gw' } as const;

/** An environment's variables are still at their pre-0.2 key, inside the range gateways read. */
export class LegacyVariablesError extends WaymarkError {
  constructor(env: string, key: string) {
    super(
      'LEGACY_VARIABLES',
      `environment ${env} still keeps its variables at ${key}, inside the range gateways read: apply to ${env} once with this version (it moves them to variables), then create the roles`,
    );
  }
}

/**
 * The least-privilege roles of a deployment, from the key layout (see KeyLayout):
 * - registry: read and write everything under the prefix;
 * - gateway of an environment and region: read the environment's topology range (regions,
 *   services, gateways, commit, pending: never `variables` or `source/`, which sort after it),
 *   every gateway's status report (the environment's revision rule reads them), its own
 *   environment's upstream policy and the registries' addresses; write only its region's
 *   registrations and status reports;
 * - viewer: read each environment except its variables, its reports and audit trail, and the policies.
 */
export function deploymentRoles(layout: KeyLayout, scope: DeploymentScope): RoleSpec[] {
  const prefix = (p: string) => ({ start: p, end: prefixEnd(p) });
  const key = (k: string) => ({ start: k, end: '' });
  const roles: RoleSpec[] = [
    { name: ROLE_NAMES.registry, user: ROLE_NAMES.registry, kind: 'registry', grants: [{ access: 'Readwrite', ...prefix(`${layout.prefix}/`), what: 'every Waymark key' }] },
    { name: ROLE_NAMES.viewer, user: ROLE_NAMES.viewer, kind: 'viewer', grants: [{ access: 'Read', ...prefix(layout.policies()), what: 'upstream policies and registry addresses' }] },
  ];
  for (const env of scope.environments) {
    const topology = topologyRange(layout, env.name);
    roles.push({
      name: `${ROLE_NAMES.viewer}-${env.name}`,
      user: ROLE_NAMES.viewer,
      kind: 'viewer',
      environment: env.name,
      grants: [
        { access: 'Read', start: topology.start, end: layout.environmentSpec(env.name), what: `${env.name}: topology, commit and source (not variables)` },
        { access: 'Read', ...prefix(layout.reports(env.name)), what: `${env.name}: gateway reports` },
        { access: 'Read', ...prefix(layout.audit(env.name)), what: `${env.name}: audit trail` },
      ],
    });
    for (const region of env.regions) {
      const name = gatewayRoleName(env.name, region);
      roles.push({
        name,
        user: name,
        kind: 'gateway',
        environment: env.name,
        region,
        grants: [
          { access: 'Read', start: topology.start, end: topology.end, what: `${env.name}: regions, services, gateways, commit (not variables, not source)` },
          { access: 'Readwrite', ...prefix(`${layout.gateways(env.name)}${region}/`), what: `${env.name}: registrations of ${region}` },
          // Every region's reports: a full read takes the newest revision gateways report (store/revision.ts).
          { access: 'Read', ...prefix(layout.reports(env.name)), what: `${env.name}: every gateway's status report (read only)` },
          { access: 'Readwrite', ...prefix(`${layout.reports(env.name)}${region}/`), what: `${env.name}: status reports of ${region}` },
          { access: 'Read', ...key(layout.upstreamPolicy(env.name)), what: `${env.name}: upstream policy` },
          { access: 'Read', ...prefix(layout.registryAddresses()), what: 'registry addresses (refused as upstreams)' },
        ],
      });
    }
  }
  return roles;
}

export function gatewayRoleName(env: string, region: string): string {
  assertName('environment', env);
  assertName('region', region);
  return `${ROLE_NAMES.gateway}-${env}-${region}`;
}

/** One step of bringing etcd to the plan; `done` is false on a dry run. */
export interface RoleAction {
  role: string;
  action: 'create-role' | 'grant' | 'revoke' | 'create-user' | 'assign' | 'unchanged';
  detail: string;
}

export interface EnsureRolesOptions {
  /** Only compute the actions. */
  dryRun?: boolean;
  /** Called with each new user's generated password (store it; it is never printed). */
  newPassword?: (user: string, password: string) => void;
}

/**
 * Brings etcd's roles and users to `specs`, idempotently: creates what is missing, grants what
 * is missing and revokes what a role holds beyond its spec (a role is exactly its spec). Users
 * are created with a random password (passed to `newPassword`); existing users keep theirs.
 */
export async function ensureRoles(conn: EtcdConnection, specs: readonly RoleSpec[], options: EnsureRolesOptions = {}): Promise<RoleAction[]> {
  const [roles, users] = await Promise.all([
    conn.call((c) => c.getRoles()).then((r) => new Set(r.map((x) => x.name))),
    conn.call((c) => c.getUsers()).then((u) => new Set(u.map((x) => x.name))),
  ]);
  const actions: RoleAction[] = [];
  const planned = new Set<string>();
  for (const spec of specs) {
    const role = conn.client.role(spec.name);
    const before = actions.length;
    const held = roles.has(spec.name) ? await conn.call(() => role.permissions()) : [];
    if (!roles.has(spec.name)) {
      actions.push({ role: spec.name, action: 'create-role', detail: `${spec.kind}${spec.environment ? ` of ${spec.environment}` : ''}${spec.region ? `/${spec.region}` : ''}` });
      if (!options.dryRun) await conn.call(() => role.create());
    }
    const id = (access: string, start: Buffer | string, end: Buffer | string) => `${access} ${Buffer.from(start).toString('hex')} ${Buffer.from(end).toString('hex')}`;
    const wanted = new Map(spec.grants.map((g) => [id(g.access, g.start, g.end), g]));
    const have = new Map(held.map((p) => [id(p.permission, p.range.start, p.range.end), p]));
    for (const [k, g] of wanted) {
      if (have.has(k)) continue;
      actions.push({ role: spec.name, action: 'grant', detail: `${g.access.toLowerCase()} ${describeRange(g.start, g.end)} (${g.what})` });
      if (!options.dryRun) await conn.call(() => role.grant({ permission: g.access, range: new Range(g.start, g.end) }));
    }
    for (const [k, p] of have) {
      if (wanted.has(k)) continue;
      actions.push({ role: spec.name, action: 'revoke', detail: `${p.permission.toLowerCase()} ${describeRange(p.range.start.toString(), p.range.end.toString())}` });
      if (!options.dryRun) await conn.call(() => role.revoke({ permission: p.permission, range: p.range }));
    }
    const user = conn.client.user(spec.user);
    const existed = users.has(spec.user);
    if (!existed) {
      actions.push({ role: spec.name, action: 'create-user', detail: `user ${spec.user} (password generated)` });
      users.add(spec.user);
      planned.add(spec.user);
      if (!options.dryRun) {
        const password = randomBytes(24).toString('base64url');
        await conn.call(() => user.create(password));
        options.newPassword?.(spec.user, password);
      }
    }
    // A user only planned by this dry run is not in etcd to ask.
    const inEtcd = existed && !(options.dryRun && planned.has(spec.user));
    const assigned = inEtcd && (await conn.call(() => user.roles())).some((r) => r.name === spec.name);
    if (!assigned) {
      actions.push({ role: spec.name, action: 'assign', detail: `role ${spec.name} to user ${spec.user}` });
      if (!options.dryRun) await conn.call(() => user.addRole(spec.name));
    }
    if (actions.length === before) actions.push({ role: spec.name, action: 'unchanged', detail: `${spec.grants.length} permission(s) as planned` });
  }
  return actions;
}

/** `[start, end)` for people; a single key as itself, a prefix as `prefix*`. */
export function describeRange(start: string, end: string): string {
  if (end === '') return start;
  if (end === prefixEnd(start)) return `${start}*`;
  return `[${start}, ${end})`;
}

/** The end of the range of keys starting with `prefix` (its last character incremented; prefixes are ASCII). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/**
 * Each environment with its regions as etcd holds them (or `regions` when given). Refuses an
 * environment whose variables are still at the legacy key, which a gateway role could read.
 */
export async function readDeploymentScope(
  conn: EtcdConnection,
  layout: KeyLayout,
  environments: readonly string[],
  regions?: readonly string[],
): Promise<DeploymentScope> {
  const out: Array<{ name: string; regions: string[] }> = [];
  for (const env of environments) {
    const legacy = layout.legacyEnvironmentSpec(env);
    const [stored, old] = await Promise.all([
      conn.call((c) => c.getAll().prefix(layout.regions(env)).keys()),
      conn.call((c) => c.get(legacy).exec()),
    ]);
    if (old.kvs.length > 0) throw new LegacyVariablesError(env, legacy);
    const names = regions ? [...regions] : stored.map((k) => k.slice(layout.regions(env).length));
    for (const r of names) assertName('region', r);
    out.push({ name: env, regions: [...new Set(names)].sort() });
  }
  return { environments: out };
}
