import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addToken } from '../../registry/index.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';
import { registerServer } from './contract-servers.js';

export interface SpawnRegistryOptions {
  etcd: string[];
  /** More `waymark registry` flags (--etcd-ca, --etcd-user, …). */
  extraArgs?: string[];
  /** Extra environment variables of the process (WAYMARK_ETCD_PASSWORD, …). */
  env?: Record<string, string>;
}

/** `waymark registry` run from source as a child process, with a tokens file of its own. */
export interface SpawnedRegistry {
  readonly url: string;
  readonly pid: number;
  readonly adminToken: string;
  readonly tokensFile: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM (or `signal`), waits for the exit, removes the tokens file. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the registry CLI and resolves once its /healthz answers. */
export async function spawnRegistry(options: SpawnRegistryOptions): Promise<SpawnedRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'waymark-registry-'));
  const tokensFile = join(dir, 'tokens.json');
  const adminToken = addToken(tokensFile, { role: 'admin', name: 'test-admin' }).token;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ['--import', 'tsx', 'cli/waymark.ts', 'registry', '--etcd', options.etcd.join(','), '--tokens', tokensFile, '--listen', `127.0.0.1:${port}`, ...(options.extraArgs ?? [])];
  const child = spawn(process.execPath, args, { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // Its answers are checked against the contract (test/support/contract-hooks.ts) while it runs.
  const unregister = registerServer(url, 'registry');
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      unregister();
      resolve();
    }),
  );
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`waymark registry exited ${child.exitCode}: ${out}`);
        return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
      },
      { timeoutMs: 20_000, intervalMs: 50, what: 'waymark registry to answer /healthz' },
    );
  } catch (err) {
    await stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- output ---\n${out}`);
  }
  return { url, pid: child.pid!, adminToken, tokensFile, output: () => out, stop };
}
