import { spawnSync } from 'node:child_process';

/** A tool found (its binary and version), or why it cannot be used. */
export type ToolAvailability = { available: true; binary: string; version: string } | { available: false; reason: string };

export interface DebianPackageRequest {
  /** Debian's package name, e.g. `nginx`, `wrk`. */
  pkg: string;
  /** Finds the tool already installed. */
  find: () => { binary: string; version: string } | undefined;
  /** Install it with apt-get when missing (only as root). */
  install: boolean;
  log: (line: string) => void;
  /** Runs after apt-get installed it (e.g. stops a service the package started). */
  afterInstall?: () => void;
}

/**
 * Finds a tool; when it is missing and `install` is set, installs Debian's package with apt-get
 * (only as root, as the project's scripts install etcd), else says how to install it.
 */
export function ensureDebianPackage({ pkg, find, install, log, afterInstall }: DebianPackageRequest): ToolAvailability {
  const found = find();
  if (found) return { available: true, ...found };
  if (!install) return { available: false, reason: `${pkg} is not installed` };
  if (process.getuid?.() !== 0) return { available: false, reason: `${pkg} is not installed and this is not root: \`sudo apt-get install ${pkg}\`` };
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    return { available: false, reason: `${pkg} is not installed and there is no apt-get: install ${pkg}` };
  }
  log(`${pkg} not found; installing Debian's ${pkg} package (apt-get update, apt-get install ${pkg})...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', pkg]]) {
    const res = spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 300_000 });
    if (res.status !== 0) {
      return { available: false, reason: `apt-get ${args.join(' ')} failed (${res.status ?? res.error?.message}): ${(res.stderr ?? '').trim().slice(-300)}` };
    }
  }
  afterInstall?.();
  const installed = find();
  return installed ? { available: true, ...installed } : { available: false, reason: `apt-get installed ${pkg} but it cannot be run` };
}
