import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WaymarkError } from '../../topology/index.js';
import { ensureDebianPackage, type ToolAvailability } from './debian-package.js';
import { freePort } from './ports.js';
import { childPids } from './processes.js';
import { waitFor } from './wait.js';

/** Where nginx is, or why it cannot be used. */
export type NginxAvailability = ToolAvailability;

export interface RunningNginx {
  /** The prefix directory (temp files, error.log, cache). */
  dir: string;
  url: string;
  pid: number;
  version: string;
  /** Fast shutdown (SIGTERM to the master, which stops its worker); SIGKILL of both if it hangs. */
  close(): Promise<void>;
}

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH. */
function findNginx(): { binary: string; version: string } | undefined {
  for (const binary of ['nginx', '/usr/sbin/nginx']) {
    const res = spawnSync(binary, ['-v'], { encoding: 'utf8' });
    if (res.error === undefined && res.status === 0) return { binary, version: (res.stderr || res.stdout).trim().replace(/^nginx version: (nginx\/)?/, '') };
  }
  return undefined;
}

/**
 * Finds nginx; when it is missing and `install` is set, installs Debian's package (see
 * debian-package.ts). The package may start a system nginx on port 80: it is stopped again, since
 * the benchmark runs its own.
 */
export function ensureNginx({ install, log }: { install: boolean; log: (line: string) => void }): NginxAvailability {
  return ensureDebianPackage({
    pkg: 'nginx',
    find: findNginx,
    install,
    log,
    afterInstall: () => {
      if (spawnSync('systemctl', ['stop', 'nginx'], { stdio: 'ignore' }).error !== undefined && existsSync('/run/nginx.pid')) {
        spawnSync('/usr/sbin/nginx', ['-s', 'quit'], { stdio: 'ignore' });
      }
    },
  });
}

/**
 * An nginx configuration that keeps everything in the prefix directory `dir` (pid, logs, temp
 * files) and runs in the foreground with `workerProcesses` workers (one unless told);
 * `http` is the inside of the `http` block.
 */
export function nginxConfig(dir: string, http: string, workerConnections = 4096, workerProcesses = 1): string {
  return `daemon off;
master_process on;
worker_processes ${workerProcesses};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}
}
`;
}

/** How to start nginx: its configuration, written for a prefix directory and a free port. */
export interface StartNginxOptions {
  config: (dir: string, port: number) => string;
  /** Time to wait for nginx to answer after it starts, ms. */
  startTimeoutMs: number;
}

/** nginx did not come up. */
export class NginxStartError extends WaymarkError {
  constructor(message: string) {
    super('NGINX_START_FAILED', message);
  }
}

/** Starts nginx in the foreground with a generated config in a temporary prefix directory. */
export async function startNginx(binary: string, version: string, options: StartNginxOptions): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'waymark-nginx-'));
  // Run as root, nginx's worker becomes `nobody`: it must be able to enter the prefix.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, options.config(dir, port));
  const child: ChildProcess = spawn(binary, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (!exited) {
      const workers = childPids(child.pid!);
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        for (const pid of workers) killQuietly(pid);
      }, 5000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => exited || (await fetch(url, { signal: AbortSignal.timeout(1000) })).status > 0, {
      timeoutMs: options.startTimeoutMs,
      intervalMs: 50,
      what: `nginx on ${url}`,
    });
    if (exited) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
      throw new NginxStartError(`nginx exited at start: ${(stderr + log).trim().slice(-800)}`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { url, dir, pid: child.pid!, version, close };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
