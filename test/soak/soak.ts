import { WaymarkClient } from '../../client-sdk/index.js';
import type { InternalTopology, TopologyDocument } from '../../openapi/index.js';
import { adminCall, applyYaml } from '../support/admin-api.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { spawnGateway, startBackend, type SpawnedGateway, type TestBackend } from '../support/gateway.js';
import { regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { freePort } from '../support/ports.js';
import { spawnRegistry, type SpawnedRegistry } from '../support/registry-process.js';
import { rssMiB } from '../support/rss.js';
import { startTraffic, type Traffic, type TrafficStats } from '../support/traffic.js';
import { waitFor } from '../support/wait.js';

/** A soak run: mixed applies, gateway restarts and SDK traffic for a while, on real processes. */
export interface SoakOptions {
  /** How long the mixed load runs, ms. */
  durationMs: number;
  /** Pause between two applies, ms. Default 300. */
  applyIntervalMs?: number;
  /** Pause between two gateway restarts, ms. Default 6000. */
  restartIntervalMs?: number;
  /** Services the applies cycle through. Default 40. */
  services?: number;
  /** Where progress lines go. Default: nowhere. */
  log?: (line: string) => void;
}

export const SOAK_DEFAULTS = { applyIntervalMs: 300, restartIntervalMs: 6000, services: 40 } as const;

export interface SoakReport {
  durationMs: number;
  applies: { acknowledged: number; failed: number; failures: string[] };
  restarts: { sigkill: number; sigterm: number };
  /** SDK traffic of the client in each region (GETs only: every one is idempotent). */
  traffic: Record<string, TrafficStats>;
  /** Acknowledged writes missing from etcd or from a gateway's document at the end. */
  lostWrites: string[];
  /** RSS in MiB at the start (after warm-up) and at the end, of processes that lived throughout. */
  rss: Record<string, { start: number; end: number; max: number }>;
}

const ENV = 'soak';
/** Gateways restarted in turn; `eu-b` is never restarted, so its memory can be followed. */
const RESTARTED = [
  { id: 'eu-a', region: 'eu-west' },
  { id: 'us-a', region: 'us-east' },
] as const;
const STABLE = { id: 'eu-b', region: 'eu-west' } as const;

/** Runs the soak and tears everything down; throws only if the setup fails. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const applyIntervalMs = options.applyIntervalMs ?? SOAK_DEFAULTS.applyIntervalMs;
  const restartIntervalMs = options.restartIntervalMs ?? SOAK_DEFAULTS.restartIntervalMs;
  const serviceCount = options.services ?? SOAK_DEFAULTS.services;
  const log = options.log ?? (() => undefined);
  let etcd: EtcdCluster | undefined;
  let registry: SpawnedRegistry | undefined;
  const backends: TestBackend[] = [];
  const gateways = new Map<string, SpawnedGateway>();
  const clients: WaymarkClient[] = [];
  const traffic = new Map<string, Traffic>();
  try {
    etcd = await startEtcd();
    registry = await spawnRegistry({ etcd: etcd.endpoints, extraArgs: ['--quiet'] });
    backends.push(await startBackend('eu'), await startBackend('us'));
    const upstreams = { 'eu-west': [backends[0]!.url], 'us-east': [backends[1]!.url] };
    const seeded = await applyYaml(
      registry.url,
      registry.adminToken,
      ENV,
      yamlDocuments(regionYaml('eu-west', 'EU'), regionYaml('us-east', 'US'), serviceYaml('catalog', { failover: ['us-east', 'eu-west'], deployments: upstreams })),
    );
    if (seeded.status !== 200) throw new Error(`seed apply failed: ${JSON.stringify(seeded.body)}`);
    const ports = new Map<string, number>();
    const spawn = async (g: { id: string; region: string }) => {
      ports.set(g.id, ports.get(g.id) ?? (await freePort()));
      gateways.set(g.id, await spawnGateway({ etcd: etcd!.endpoints, environment: ENV, region: g.region, id: g.id, port: ports.get(g.id)!, leaseTtlSeconds: 2 }));
    };
    await Promise.all([...RESTARTED, STABLE].map(spawn));
    for (const region of ['eu-west', 'us-east']) {
      const client = new WaymarkClient({
        bootstrap: [...gateways.values()].map((g) => g.url),
        region,
        environment: ENV,
        probeLatency: false,
        ejectionBaseMs: 500,
        connectTimeoutMs: 500,
        attemptTimeoutMs: 2000,
      });
      clients.push(client);
      await client.ready();
      await waitFor(() => client.topology()?.regions.every((r) => r.gateways.length > 0), { what: `the ${region} client to see gateways`, timeoutMs: 20_000 });
      traffic.set(region, startTraffic(client, { service: 'catalog', workers: 3, pauseMs: 20, maxDurationMs: options.durationMs + 60_000 }));
    }
    await waitFor(() => [...traffic.values()].every((t) => t.stats().ok >= 30), { what: 'warm-up traffic', timeoutMs: 20_000 });

    const tracked = [{ name: 'registry', pid: registry.pid }, { name: `gateway ${STABLE.id}`, pid: gateways.get(STABLE.id)!.pid }];
    const rss: SoakReport['rss'] = {};
    const sample = async () => {
      for (const t of tracked) {
        const mib = await rssMiB(t.pid);
        const r = (rss[t.name] ??= { start: mib, end: mib, max: mib });
        r.end = mib;
        r.max = Math.max(r.max, mib);
      }
    };
    await sample();

    const started = Date.now();
    const until = started + options.durationMs;
    /** Last acknowledged base path of each service. */
    const acked = new Map<string, string>();
    const applies: SoakReport['applies'] = { acknowledged: 0, failed: 0, failures: [] };
    const applier = (async () => {
      for (let i = 0; Date.now() < until; i++) {
        // Mostly one service, every fifth apply a batch of five: both change the document.
        const names = i % 5 === 4 ? Array.from({ length: 5 }, (_, k) => `svc-${(i + k * 7) % serviceCount}`) : [`svc-${i % serviceCount}`];
        const docs = names.map((n) => serviceYaml(n, { basePath: `/${n}/v${i}`, deployments: { 'us-east': upstreams['us-east'] } }));
        const res = await applyYaml(registry!.url, registry!.adminToken, ENV, yamlDocuments(...docs)).catch((err: Error) => ({ status: 0, body: { code: err.message } }));
        if (res.status === 200) {
          applies.acknowledged++;
          for (const n of names) acked.set(n, `/${n}/v${i}`);
        } else {
          applies.failed++;
          applies.failures.push(`${res.status} ${String(res.body?.code)}`);
        }
        await new Promise((r) => setTimeout(r, applyIntervalMs));
      }
    })();
    const restarts = { sigkill: 0, sigterm: 0 };
    const restarter = (async () => {
      for (let i = 0; Date.now() + restartIntervalMs < until; i++) {
        await new Promise((r) => setTimeout(r, restartIntervalMs));
        const g = RESTARTED[i % RESTARTED.length]!;
        const signal = i % 2 === 0 ? 'SIGKILL' : 'SIGTERM';
        const child = gateways.get(g.id)!;
        child.kill(signal);
        await child.exited;
        if (signal === 'SIGKILL') restarts.sigkill++;
        else restarts.sigterm++;
        await spawn(g);
        log(`  ${Math.round((Date.now() - started) / 1000)} s: ${g.id} ${signal} and restarted; ${applies.acknowledged} applies acknowledged`);
      }
    })();
    const sampler = (async () => {
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, Math.min(10_000, Math.max(0, until - Date.now()))));
        await sample();
      }
    })();
    await Promise.all([applier, restarter, sampler]);

    // Every acknowledged write is in etcd (through the registry) and, after a short settle, in every gateway's document.
    const lostWrites: string[] = [];
    const internal = await adminCall<InternalTopology>(registry.url, 'GET', `/v1/environments/${ENV}/topology`, { token: registry.adminToken });
    const stored = new Map(internal.body.services.map((s) => [s.name, s.basePath]));
    for (const [name, basePath] of acked) if (stored.get(name) !== basePath) lostWrites.push(`etcd: ${name} is ${stored.get(name)}, acknowledged ${basePath}`);
    const documentOf = async (g: SpawnedGateway) => (await (await fetch(`${g.url}/.well-known/topology`)).json()) as TopologyDocument;
    const converged = async (g: SpawnedGateway) => {
      const doc = await documentOf(g);
      return [...acked].every(([name, basePath]) => doc.services.some((s) => s.name === name && s.basePath === basePath));
    };
    await waitFor(async () => (await Promise.all([...gateways.values()].map(converged))).every(Boolean), {
      what: 'every gateway to serve every acknowledged write',
      timeoutMs: 15_000,
    }).catch(async () => {
      for (const [id, g] of gateways) if (!(await converged(g))) lostWrites.push(`gateway ${id} does not serve every acknowledged write`);
    });
    await sample();
    const stats: Record<string, TrafficStats> = {};
    for (const [region, t] of traffic) stats[region] = await t.stop();
    traffic.clear();
    return { durationMs: Date.now() - started, applies, restarts, traffic: stats, lostWrites, rss };
  } finally {
    for (const t of traffic.values()) await t.stop();
    for (const c of clients) await c.close();
    for (const g of gateways.values()) {
      g.kill('SIGKILL');
      await g.exited;
    }
    await registry?.stop();
    for (const b of backends) await b.close();
    await etcd?.stop();
  }
}

/** One line per figure, for the console and the README. */
export function describeSoak(report: SoakReport): string[] {
  const lines = [
    `duration ${Math.round(report.durationMs / 1000)} s; applies: ${report.applies.acknowledged} acknowledged, ${report.applies.failed} failed; ` +
      `gateway restarts: ${report.restarts.sigkill} SIGKILL + ${report.restarts.sigterm} SIGTERM; lost acknowledged writes: ${report.lostWrites.length}`,
  ];
  for (const [region, t] of Object.entries(report.traffic)) {
    lines.push(`SDK client in ${region}: ${t.calls} GETs, ${t.failures.length} failed; p50 ${t.p50Ms} ms, p99 ${t.p99Ms} ms, max ${t.maxMs} ms; served by ${JSON.stringify(t.servedBy)}`);
  }
  for (const [name, r] of Object.entries(report.rss)) lines.push(`RSS of ${name}: ${r.start} MiB at start, ${r.end} MiB at end (max ${r.max} MiB)`);
  return lines;
}
