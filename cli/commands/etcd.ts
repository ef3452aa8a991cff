import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { connectEtcd, DEFAULT_KEY_PREFIX, deploymentRoles, ensureRoles, KeyLayout, readDeploymentScope, type RoleAction } from '../../store/index.js';
import { isValidName } from '../../topology/index.js';
import { etcdOptionsFrom, withEtcdCredentials, type EtcdCredentialFlags } from '../etcd-credentials.js';
import { formatData, formatTable, handled, UsageError } from '../output.js';
import { outputFormat } from './connection.js';

interface RolesFlags extends EtcdCredentialFlags {
  etcd?: string;
  environment?: string;
  regions?: string;
  passwordsDir?: string;
  prefix: string;
  dryRun?: boolean;
  output?: string;
}

const DEFAULT_ETCD = 'http://127.0.0.1:2379';

/** `waymark etcd roles`: the least-privilege etcd users and roles of a deployment (see store/roles.ts). */
export function registerEtcd(program: Command): void {
  const etcd = program.command('etcd').description('administer the etcd of a deployment');
  withEtcdCredentials(etcd.command('roles'))
    .description('create (idempotently) the etcd roles and users of a deployment: registry, a gateway per environment and region, ops viewer')
    .option('--etcd <urls>', `etcd client URLs, comma-separated (env WAYMARK_ETCD; default ${DEFAULT_ETCD})`)
    .option('-e, --environment <envs>', 'environments, comma-separated (env WAYMARK_ENVIRONMENT)')
    .option('--regions <regions>', "gateway regions, comma-separated (default: each environment's regions in etcd)")
    .option('--passwords-dir <dir>', "where each new user's generated password is written (one file per user, mode 0600)")
    .option('--prefix <prefix>', 'root of the etcd keys', DEFAULT_KEY_PREFIX)
    .option('--dry-run', 'only print the plan')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(
      handled(async (flags: RolesFlags) => {
        const format = outputFormat(flags.output);
        const environments = list(flags.environment ?? process.env.WAYMARK_ENVIRONMENT, '--environment');
        if (environments.length === 0) throw new UsageError('no environment: give -e ENV[,ENV…] or set WAYMARK_ENVIRONMENT');
        const regions = flags.regions === undefined ? undefined : list(flags.regions, '--regions');
        const endpoints = (flags.etcd ?? process.env.WAYMARK_ETCD ?? DEFAULT_ETCD).split(',').map((s) => s.trim()).filter(Boolean);
        const conn = connectEtcd(etcdOptionsFrom(endpoints, flags));
        try {
          const layout = new KeyLayout(flags.prefix);
          const scope = await readDeploymentScope(conn, layout, environments, regions);
          const empty = scope.environments.filter((e) => e.regions.length === 0).map((e) => e.name);
          if (empty.length > 0) throw new UsageError(`environment ${empty.join(', ')} has no region in etcd: apply its manifests first, or give --regions`);
          const specs = deploymentRoles(layout, scope);
          const plan = await ensureRoles(conn, specs, { dryRun: true });
          if (!flags.dryRun && plan.some((a) => a.action === 'create-user') && !flags.passwordsDir) {
            throw new UsageError('new users get generated passwords: give --passwords-dir DIR to receive them (nothing was changed)');
          }
          for (const a of plan) {
            if (!flags.dryRun && a.action === 'create-user' && existsSync(join(flags.passwordsDir!, a.role))) {
              throw new UsageError(`${join(flags.passwordsDir!, a.role)} exists but etcd has no user ${a.role}: move the file away (nothing was changed)`);
            }
          }
          const done = flags.dryRun ? plan : await ensureRoles(conn, specs, { newPassword: (user, password) => savePassword(flags.passwordsDir!, user, password) });
          if (format !== 'table') {
            process.stdout.write(formatData({ dryRun: flags.dryRun ?? false, prefix: layout.prefix, roles: specs, actions: done }, format));
            return;
          }
          process.stdout.write(`${flags.dryRun ? 'plan (dry run: nothing written)' : 'done'} for ${scope.environments.map((e) => `${e.name} (${e.regions.join(', ')})`).join('; ')} under ${layout.prefix}\n`);
          process.stdout.write(formatTable(['ROLE', 'ACTION', 'WHAT'], done.map((a: RoleAction) => [a.role, a.action, a.detail])));
          if (!flags.dryRun && done.some((a) => a.action === 'create-user')) {
            process.stdout.write(`passwords of the new users are in ${flags.passwordsDir}/<user> (mode 0600); give each to its component with --etcd-password-file\n`);
          }
        } finally {
          conn.close();
        }
      }),
    );
}

function list(value: string | undefined, flag: string): string[] {
  const names = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!isValidName(n)) throw new UsageError(`${flag}: ${JSON.stringify(n)} is not a valid name`);
  return names;
}

/** One file per user, never overwritten, readable by its owner only. */
function savePassword(dir: string, user: string, password: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, user);
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
}
