import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { makePrivateDirSync, writePrivateFileSync } from '../files/index.js';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import type { ApplyResult } from '../openapi/index.js';
import { addToken, createRegistry, hashToken, type Registry, type ManifestSource } from '../registry/index.js';
import { startDemoBackend, type DemoBackend } from './demo-backend.js';
import { EtcdProcess } from './etcd-process.js';
import { StackLock } from './lock.js';
import { STACK_DEFAULTS, type StackOptions } from './options.js';
import { PortPlan, portIsFree } from './ports.js';
import { Reaper } from './reaper.js';
import { Supervisor } from './supervisor.js';

/** The machine-readable description of a running stack, written to `<stateDir>/stack.json`. */
export interface StackDescription {
  pid: number;
  startedAt: string;
  stateDir: string;
  etcd: { endpoints: string[]; managed: boolean; dataDir?: string; pid?: number };
  registry: { url: string; tokenFile: string; tokensFile: string };
  environments: Record<string, { gateways: StackGateway[]; applied: ApplyResult['summary'] & { revision: number } }>;
  backends: Array<{ environment: string; service: string; region: string; instance: string; url: string; variable: string }>;
}

export interface StackGateway {
  id: string;
  region: string;
  url: string;
  pid: number;
  dispatch: boolean;
  logFile: string;
  /** The command line that runs it: run it again to bring a stopped gateway back. */
  command: string[];
}

export interface Stack {
  readonly description: StackDescription;
  readonly registry: Registry;
  /** Stops every component: gateways (leases revoked), registry, backends, etcd. */
  close(): Promise<void>;
}

interface Deployment {
  service: string;
  region: string;
  variable: string;
}

/**
 * Starts the local multi-region stack: etcd, the registry with an admin token, demo backends,
 * one gateway per region and environment plus a dispatching gateway, and applies the example
 * manifests to every environment with variables pointing at its own backends.
 */
export async function startStack(options: StackOptions = {}, log: (line: string) => void = () => undefined): Promise<Stack> {
  const stateDir = resolve(options.stateDir ?? STACK_DEFAULTS.stateDir);
  const host = options.host ?? STACK_DEFAULTS.host;
  const environments = options.environments ?? [...STACK_DEFAULTS.environments];
  const manifestDir = resolve(options.manifest ?? STACK_DEFAULTS.manifest);
  const leaseTtl = options.leaseTtlSeconds ?? STACK_DEFAULTS.leaseTtlSeconds;
  const ports = new PortPlan(options.basePort ?? STACK_DEFAULTS.basePort, host);

  // Owner only: it holds the environments' variables, the admin token and the gateways' snapshots.
  makePrivateDirSync(stateDir);
  const lock = new StackLock(join(stateDir, 'stack.lock'));
  lock.acquire();
  // Stops the child processes and frees the lock should this process die without cleaning up.
  const reaper = new Reaper();
  reaper.remove(lock.file);
  const cleanups: Array<() => Promise<void> | void> = [() => reaper.close(), () => lock.release()];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn();
    cleanups.length = 0;
  };
  try {
    const { sources, regions, deployments } = readManifests(manifestDir);
    const gatewayRegions = options.regions ?? regions;
    for (const r of gatewayRegions) {
      if (!regions.includes(r)) throw new Error(`--regions names ${r}, which ${manifestDir} does not define (it has ${regions.join(', ')})`);
    }
    const supervisor = new Supervisor(join(stateDir, 'logs'), reaper, { enabled: options.restart ?? STACK_DEFAULTS.restart });
    supervisor.on('exit', (name, code, signal, restartInMs) =>
      log(`! ${name} exited (${signal ?? `code ${code}`}); ${restartInMs !== undefined ? `restarting in ${restartInMs / 1000}s; ` : ''}see ${join(stateDir, 'logs', `${name}.log`)}`),
    );
    // Gateways by child name, so a restart updates the pid in stack.json.
    const byChild = new Map<string, StackGateway>();
    let described: (() => void) | undefined;
    supervisor.on('restarted', (name, pid) => {
      const g = byChild.get(name);
      if (g) g.pid = pid ?? 0;
      described?.();
      log(`restarted   ${name} (pid ${pid ?? '?'})`);
    });

    // etcd
    let endpoints = options.etcd;
    let etcdDataDir: string | undefined;
    let etcdPid: number | undefined;
    if (!endpoints) {
      const clientPort = await ports.port(1);
      const peerPort = await ports.port(2);
      await requireFree(host, [clientPort, peerPort], 'etcd');
      etcdDataDir = join(stateDir, 'etcd');
      const etcd = new EtcdProcess({
        name: 'waymark-local',
        dataDir: etcdDataDir,
        clientUrl: `http://${host}:${clientPort}`,
        peerUrl: `http://${host}:${peerPort}`,
      });
      await etcd.start();
      const pid = etcd.pid;
      etcdPid = pid;
      reaper.watch(pid);
      cleanups.push(async () => {
        await etcd.stop();
        reaper.forget(pid);
      });
      endpoints = [etcd.options.clientUrl];
      log(`etcd        ${endpoints[0]} (data in ${etcdDataDir})`);
    }

    // registry, with an admin token kept across restarts
    const tokensFile = join(stateDir, 'tokens.json');
    const tokenFile = join(stateDir, 'admin-token');
    const token = adminToken(tokensFile, tokenFile);
    const registryPort = await ports.port(0);
    await requireFree(host, [registryPort], 'the registry');
    const registry = createRegistry({ etcd: { endpoints }, tokens: { file: tokensFile }, host, port: registryPort });
    cleanups.push(() => registry.close());
    const registryUrl = await registry.listen();
    log(`registry    ${registryUrl} (admin token in ${tokenFile})`);

    // demo backends and the manifests, per environment
    const backends: StackDescription['backends'] = [];
    const applied: Record<string, ApplyResult> = {};
    let backendOffset = 100;
    for (const env of environments) {
      // The registry serves the browser demo: its origin is the one the services' CORS allow.
      const variables: Record<string, string> = { demoOrigin: registryUrl };
      for (const d of deployments) {
        const instance = `${env}-${d.service}-${d.region}`;
        const backend: DemoBackend = await startDemoBackend({ service: d.service, region: d.region, instance, host, port: await ports.port(backendOffset++) });
        cleanups.push(() => backend.close());
        variables[d.variable] = backend.url;
        backends.push({ environment: env, service: d.service, region: d.region, instance, url: backend.url, variable: d.variable });
      }
      const envFile = join(stateDir, 'environments', `${env}.yaml`);
      makePrivateDirSync(join(stateDir, 'environments'));
      writePrivateFileSync(envFile, stringify({ apiVersion: 'waymark/v1', kind: 'Environment', metadata: { name: env }, spec: { variables } }));
      applied[env] = await registry.apply({
        environment: env,
        sources: [{ file: envFile, text: readFileSync(envFile, 'utf8') }, ...sources],
        by: 'waymark up',
      });
      const s = applied[env].summary;
      log(`applied     ${env}: ${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged (revision ${applied[env].revision})`);
    }

    // gateways: one per region and environment, plus a dispatcher in the first region
    const cli = cliCommand();
    const description: StackDescription = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      stateDir,
      etcd: { endpoints, managed: etcdDataDir !== undefined, ...(etcdDataDir ? { dataDir: etcdDataDir, pid: etcdPid } : {}) },
      registry: { url: registryUrl, tokenFile, tokensFile },
      environments: {},
      backends,
    };
    cleanups.push(() => supervisor.stopAll());
    for (const [envIndex, env] of environments.entries()) {
      const gateways: StackGateway[] = [];
      const plan = [...gatewayRegions.map((region) => ({ region, id: `gw-${region}`, dispatch: false }))];
      if (gatewayRegions.length > 0) plan.push({ region: gatewayRegions[0], id: 'dispatcher', dispatch: true });
      for (const [i, g] of plan.entries()) {
        const port = await ports.port((env === 'prod' ? 10 : 30 + envIndex * 20) + i);
        await requireFree(host, [port], `gateway ${g.id} of ${env}`);
        const url = `http://${host}:${port}`;
        const name = `gateway-${env}-${g.id}`;
        const args = [
          ...cli,
          'gateway',
          '--etcd', endpoints.join(','),
          '--environment', env,
          '--region', g.region,
          '--id', g.id,
          '--listen', `${host}:${port}`,
          '--public-url', url,
          '--snapshot', join(stateDir, 'snapshots', `${env}-${g.region}-${g.id}.json`),
          '--lease-ttl', String(leaseTtl),
          ...(g.dispatch ? ['--dispatch'] : []),
        ];
        const child = supervisor.start({ name, command: process.execPath, args });
        const gateway: StackGateway = {
          id: g.id,
          region: g.region,
          url,
          pid: child.pid ?? 0,
          dispatch: g.dispatch,
          logFile: join(supervisor.logDir, `${name}.log`),
          command: [process.execPath, ...args],
        };
        byChild.set(name, gateway);
        gateways.push(gateway);
      }
      description.environments[env] = { gateways, applied: { ...applied[env].summary, revision: applied[env].revision } };
    }
    makePrivateDirSync(join(stateDir, 'snapshots'));
    await waitForGateways(registry, description);
    const file = join(stateDir, 'stack.json');
    described = () => writePrivateFileSync(file, `${JSON.stringify(description, null, 2)}\n`);
    described();
    reaper.remove(file);
    cleanups.splice(2, 0, () => {
      described = undefined;
      rmSync(file, { force: true });
    });
    return { description, registry, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The manifests of the stack, the regions they define and each `${var}` upstream to back. */
function readManifests(dir: string): { sources: ManifestSource[]; regions: string[]; deployments: Deployment[] } {
  if (!existsSync(dir)) throw new Error(`manifest folder ${dir} does not exist (--manifest)`);
  const sources: ManifestSource[] = [];
  const regions: string[] = [];
  const deployments: Deployment[] = [];
  for (const f of readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
    const file = join(dir, f);
    const text = readFileSync(file, 'utf8');
    type Doc = { kind?: string; metadata?: { name?: string }; spec?: { deployments?: Array<{ region?: string; upstreams?: string[] }> } } | null;
    const docs = parseAllDocuments(text).map((d) => d.toJS() as Doc);
    // Environment files hold a real deployment's variables; the stack writes its own.
    if (docs.every((d) => d?.kind === 'Environment')) continue;
    sources.push({ file, text });
    for (const value of docs) {
      const name = value?.metadata?.name;
      if (!name) continue;
      if (value.kind === 'Region') regions.push(name);
      if (value.kind !== 'Service') continue;
      for (const d of value.spec?.deployments ?? []) {
        for (const u of d.upstreams ?? []) {
          const m = /^\$\{(\w+)\}$/.exec(u);
          if (m && d.region && !deployments.some((x) => x.variable === m[1])) {
            deployments.push({ service: name, region: d.region, variable: m[1] });
          }
        }
      }
    }
  }
  return { sources, regions, deployments };
}

/** Reuses the admin token of an earlier run when its hash is still in the tokens file. */
function adminToken(tokensFile: string, tokenFile: string): string {
  if (existsSync(tokenFile) && existsSync(tokensFile)) {
    const token = readFileSync(tokenFile, 'utf8').trim();
    if (readFileSync(tokensFile, 'utf8').includes(hashToken(token))) return token;
  }
  rmSync(tokensFile, { force: true });
  const { token } = addToken(tokensFile, { role: 'admin', name: 'local-admin' });
  writePrivateFileSync(tokenFile, `${token}\n`);
  return token;
}

/** The command that runs this build's CLI: compiled JavaScript, or the TypeScript source via tsx. */
function cliCommand(): string[] {
  const js = fileURLToPath(new URL('../cli/waymark.js', import.meta.url));
  if (existsSync(js)) return [js];
  return ['--import', 'tsx', fileURLToPath(new URL('../cli/waymark.ts', import.meta.url))];
}

async function requireFree(host: string, ports: number[], what: string): Promise<void> {
  for (const port of ports) {
    if (!(await portIsFree(port, host))) {
      throw new Error(`port ${port} on ${host}, needed by ${what}, is in use: stop what uses it or pick other ports with --base-port N`);
    }
  }
}

/** Waits until every gateway serves a ready topology and is registered in etcd. */
async function waitForGateways(registry: Registry, description: StackDescription, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const [env, { gateways }] of Object.entries(description.environments)) {
    for (const g of gateways) {
      for (;;) {
        const ok = await fetch(`${g.url}/readyz`, { signal: AbortSignal.timeout(1000) })
          .then((r) => r.ok)
          .catch(() => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`gateway ${g.id} of ${env} at ${g.url} did not become ready; see ${g.logFile}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (;;) {
      const status = await registry.status(env);
      if (gateways.every((g) => status.gateways.some((s) => s.id === g.id && s.region === g.region))) break;
      if (Date.now() > deadline) throw new Error(`not every gateway of ${env} registered in etcd in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
