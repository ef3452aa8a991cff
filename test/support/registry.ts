import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerServer } from './contract-servers.js';
import { addToken, createRegistry, type Registry, type RegistryOptions, type Role } from '../../registry/index.js';
import type { EtcdOptions } from '../../store/index.js';

/** A registry serving its admin API on a free loopback port, with a tokens file of its own. */
export interface TestRegistry {
  readonly url: string;
  /** A token with the admin role. */
  readonly adminToken: string;
  readonly registry: Registry;
  /** The tokens file (hashes only); new tokens work at once. */
  readonly tokensFile: string;
  /** Creates another token (operators need environments). */
  token(role: Role, environments?: string[]): string;
  /** Stops the registry but keeps its port and tokens, for `start()` (an outage of the registry). */
  stop(): Promise<void>;
  /** Starts a stopped registry again on the same port, with the same tokens. */
  start(): Promise<void>;
  /** Stops the registry and removes the tokens file. */
  close(): Promise<void>;
}

/** Starts a registry in-process against the given etcd. Close it in `after`/`finally`. */
export async function startRegistry(
  options: { endpoints: string[]; etcdOptions?: Omit<EtcdOptions, 'endpoints'> } & Partial<Omit<RegistryOptions, 'etcd' | 'tokens'>>,
): Promise<TestRegistry> {
  const { endpoints, etcdOptions, ...rest } = options;
  const dir = mkdtempSync(join(tmpdir(), 'waymark-tokens-'));
  const tokensFile = join(dir, 'tokens.json');
  const adminToken = addToken(tokensFile, { role: 'admin', name: 'test-admin' }).token;
  const create = (port: number) =>
    createRegistry({
      port,
      ...rest,
      etcd: { endpoints, callTimeoutMs: 3000, ...etcdOptions },
      tokens: { file: tokensFile },
    });
  let registry = create(rest.port ?? 0);
  let running = true;
  let url: string;
  try {
    url = await registry.listen();
  } catch (err) {
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Its answers are checked against the contract (test/support/contract-hooks.ts).
  const unregister = registerServer(url, 'registry');
  return {
    url,
    adminToken,
    get registry() {
      return registry;
    },
    tokensFile,
    token: (role, environments) => addToken(tokensFile, { role, ...(environments ? { environments } : {}) }).token,
    async stop() {
      if (!running) return;
      running = false;
      await registry.close();
    },
    async start() {
      if (running) return;
      registry = create(Number(new URL(url).port));
      await registry.listen();
      running = true;
    },
    async close() {
      if (running) await registry.close();
      running = false;
      unregister();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One registry for a suite on the etcd of `useEtcd()`: started in `before`, closed in `after`.
 * The returned object reads through to it, so tests use it as a TestRegistry.
 */
export function useRegistry(ctx: { readonly etcd: { readonly endpoints: string[] } }): TestRegistry {
  let started: TestRegistry | undefined;
  before(async () => {
    started = await startRegistry({ endpoints: ctx.etcd.endpoints });
  });
  after(async () => {
    await started?.close();
  });
  const current = (): TestRegistry => {
    if (!started) throw new Error('the suite registry is used before its before() hook ran');
    return started;
  };
  return {
    get url() {
      return current().url;
    },
    get adminToken() {
      return current().adminToken;
    },
    get registry() {
      return current().registry;
    },
    get tokensFile() {
      return current().tokensFile;
    },
    token: (role, environments) => current().token(role, environments),
    stop: () => current().stop(),
    start: () => current().start(),
    close: () => current().close(),
  };
}
