import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import type { EtcdOptions } from '../store/index.js';
import { WaymarkError } from '../topology/index.js';
import { UsageError } from './output.js';

/** The etcd credential flags shared by `waymark registry`, `waymark gateway` and `waymark etcd`. */
export interface EtcdCredentialFlags {
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  etcdPasswordFile?: string;
}

/** A secret file other users can read (or that cannot be read): refused, as ssh refuses such keys. */
export class InsecureFileError extends WaymarkError {
  constructor(file: string, problem: string) {
    super('INSECURE_FILE', `${file} ${problem}`);
  }
}

/** Each flag falls back to an environment variable: flags are visible to other users in `ps`, variables and files are not. */
export function withEtcdCredentials(cmd: Command): Command {
  return cmd
    .option('--etcd-ca <file>', 'PEM CA of etcd: connect over TLS (env WAYMARK_ETCD_CA)')
    .option('--etcd-cert <file>', 'PEM client certificate for etcd (env WAYMARK_ETCD_CERT)')
    .option('--etcd-key <file>', 'PEM client key of --etcd-cert, mode 0600 (env WAYMARK_ETCD_KEY)')
    .option('--etcd-user <user>', 'etcd user (env WAYMARK_ETCD_USER)')
    .option('--etcd-password <password>', 'etcd password (prefer WAYMARK_ETCD_PASSWORD or --etcd-password-file)')
    .option('--etcd-password-file <file>', 'file holding the etcd password, mode 0600 (env WAYMARK_ETCD_PASSWORD_FILE)');
}

/** etcd options from the flags, then the environment. The password is never printed, even in errors. */
export function etcdOptionsFrom(endpoints: string[], flags: EtcdCredentialFlags, env: NodeJS.ProcessEnv = process.env): EtcdOptions {
  const caFile = flags.etcdCa ?? env.WAYMARK_ETCD_CA;
  const certFile = flags.etcdCert ?? env.WAYMARK_ETCD_CERT;
  const keyFile = flags.etcdKey ?? env.WAYMARK_ETCD_KEY;
  const username = flags.etcdUser ?? env.WAYMARK_ETCD_USER;
  const passwordFile = flags.etcdPasswordFile ?? env.WAYMARK_ETCD_PASSWORD_FILE;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError('--etcd-cert and --etcd-key go together (or WAYMARK_ETCD_CERT and WAYMARK_ETCD_KEY)');
  if ((certFile || keyFile) && !caFile) throw new UsageError('a client certificate needs TLS: give --etcd-ca (or WAYMARK_ETCD_CA) too');
  if (keyFile) checkPrivate(keyFile);
  const given = flags.etcdPassword ?? env.WAYMARK_ETCD_PASSWORD;
  if (given !== undefined && passwordFile) throw new UsageError('give the etcd password once: --etcd-password / WAYMARK_ETCD_PASSWORD or --etcd-password-file / WAYMARK_ETCD_PASSWORD_FILE');
  const password = passwordFile ? readSecret(passwordFile) : given;
  if (password !== undefined && !username) throw new UsageError('an etcd password needs a user: give --etcd-user (or WAYMARK_ETCD_USER)');
  return {
    endpoints,
    ...(caFile ? { caFile } : {}),
    ...(certFile ? { certFile } : {}),
    ...(keyFile ? { keyFile } : {}),
    ...(username ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/** Refuses a secret file that group or others may read or write. */
export function checkPrivate(file: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    throw new InsecureFileError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if ((mode & 0o077) !== 0) {
    throw new InsecureFileError(file, `is open to other users (mode 0${(mode & 0o777).toString(8)}): run chmod 600 ${file}`);
  }
}

/** The first line of a private file. */
function readSecret(file: string): string {
  checkPrivate(file);
  const text = readFileSync(file, 'utf8').split(/\r?\n/, 1)[0];
  if (!text) throw new InsecureFileError(file, 'is empty: it must hold the etcd password on its first line');
  return text;
}
