import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { commitChanges, readEnvironment, recoverPendingApply, TopologyWatcher, type Mutation, type TopologySnapshot } from '../../store/index.js';
import type { ServiceDefinition } from '../../openapi/index.js';
import type { ApplyJob } from '../support/apply-process.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const APPLY_PROCESS = fileURLToPath(new URL('../support/apply-process.ts', import.meta.url));
/** Latency on the dying registry's requests, so the apply is slow enough to be killed half-way. */
const APPLY_DELAY_MS = 30;

/** Content of a snapshot (regions and services), independent of its revision. */
function fingerprint(s: TopologySnapshot): string {
  const sorted = <T>(m: ReadonlyMap<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify([sorted(s.regions), sorted(s.services)])).digest('hex').slice(0, 12);
}

/**
 * A registry process dies in the middle of a multi-transaction apply. Readers must only ever see
 * the whole old state or the whole new one, and recoverPendingApply must put the old state back
 * exactly (or leave the apply alone while its registry's lease lives).
 */
describe('crash in the middle of a multi-transaction apply (store level)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  let proxy: FaultProxy;
  const children = new Set<ChildProcess>();
  const watchers = new Set<TopologyWatcher>();
  const readers = new Set<() => Promise<void>>();

  before(async () => {
    proxy = await startFaultProxy({ target: new URL(ctx.etcd.endpoints[0]).host });
  });
  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL');
    children.clear();
    for (const stop of readers) await stop().catch(() => undefined);
    readers.clear();
    for (const w of watchers) await w.close();
    watchers.clear();
    proxy.heal();
  });
  after(async () => {
    await proxy?.close();
  });

  const commit = (id: string) => ({ id, at: new Date().toISOString(), summary: { created: 0, updated: 0, deleted: 0, unchanged: 0 } });

  /** Old state: `svc-0..n-1` (v1) and `old-0..m-1`. New state: `svc-0..N-1` (v2); `old-*` are deleted. */
  function oldState(env: string, services: number, extra: number): Mutation[] {
    return [
      { type: 'put', key: ctx.layout.region(env, 'eu-west'), value: JSON.stringify(region('eu-west')) },
      ...Array.from({ length: services }, (_, i): Mutation => ({ type: 'put', key: ctx.layout.service(env, `svc-${i}`), value: JSON.stringify(service(`svc-${i}`, ['eu-west'])) })),
      ...Array.from({ length: extra }, (_, i): Mutation => ({ type: 'put', key: ctx.layout.service(env, `old-${i}`), value: JSON.stringify(service(`old-${i}`, ['eu-west'])) })),
    ];
  }
  function newState(env: string, services: number, deleteExtra: number): Mutation[] {
    const v2 = (name: string): ServiceDefinition => service(name, ['eu-west'], { basePath: `/${name}/v2`, placement: 'global' });
    return [
      ...Array.from({ length: services }, (_, i): Mutation => ({ type: 'put', key: ctx.layout.service(env, `svc-${i}`), value: JSON.stringify(v2(`svc-${i}`)) })),
      ...Array.from({ length: deleteExtra }, (_, i): Mutation => ({ type: 'delete', key: ctx.layout.service(env, `old-${i}`) })),
    ];
  }

  /** Every key of the environment with its value (what "the old state exactly" means). */
  async function rawState(env: string): Promise<Map<string, string>> {
    const res = await ctx.conn.call((c) => c.getAll().prefix(ctx.layout.environment(env)).exec());
    return new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
  }
  async function commitRevision(env: string): Promise<number> {
    return Number((await ctx.conn.call((c) => c.get(ctx.layout.commit(env)).exec())).kvs[0]?.mod_revision ?? 0);
  }

  /** Starts the registry stand-in, talking to etcd through the delaying proxy. */
  function startApply(job: Omit<ApplyJob, 'endpoints'>): { child: ChildProcess; lease: Promise<string>; exited: Promise<number | null> } {
    const child = spawn(process.execPath, ['--import', 'tsx', APPLY_PROCESS], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let onLease: (id: string) => void = () => undefined;
    const lease = new Promise<string>((resolve) => (onLease = resolve));
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      for (const line of stdout.split('\n').slice(0, -1)) {
        const msg = JSON.parse(line) as { event: string; id?: string };
        if (msg.event === 'lease' && msg.id) onLease(msg.id);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        children.delete(child);
        if (code !== null && code !== 0) process.stderr.write(`apply-process exited ${code}: ${stderr}\n`);
        resolve(code);
      }),
    );
    child.stdin!.end(JSON.stringify({ ...job, endpoints: [proxy.url] } satisfies ApplyJob));
    return { child, lease, exited };
  }

  /** Waits for the marker and a few chunks after it; returns the marker's revision. */
  async function waitMidApply(env: string, chunks: number): Promise<number> {
    return waitFor(
      async () => {
        const res = await ctx.conn.call((c) => c.get(ctx.layout.pending(env)).exec());
        const marker = res.kvs[0];
        // Nothing else writes to this etcd meanwhile: each revision past the marker is one chunk.
        return marker && Number(res.header.revision) - Number(marker.mod_revision) >= chunks ? Number(marker.mod_revision) : 0;
      },
      { timeoutMs: 20_000, intervalMs: 10, what: `the apply to write its marker and ${chunks} chunks` },
    );
  }

  /** Readers that record what they see until stopped: a watcher's snapshots and repeated full reads. */
  function observe(env: string) {
    const seen = new Map<string, number>();
    const note = (s: TopologySnapshot, via: string) => {
      const key = `${via}:${s.services.size}:${fingerprint(s)}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    };
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env, { probeIntervalMs: 200 }).start();
    watchers.add(watcher);
    watcher.on('snapshot', (s) => note(s, 'watch'));
    let stopped = false;
    let readsDuringApply = 0;
    const reader = (async () => {
      const deadline = Date.now() + 45_000;
      for (let i = 0; i < 2000 && !stopped && Date.now() < deadline; i++) {
        const read = await readEnvironment(ctx.conn, ctx.layout, env);
        if (read.pending) readsDuringApply++;
        note(read.snapshot, 'read');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const stop = async () => {
      stopped = true;
      await reader;
    };
    readers.add(stop);
    return { watcher, seen, readsDuringApply: () => readsDuringApply, stop };
  }

  it('shows readers only the whole old or new state when the registry is SIGKILLed, and rolls back exactly', async () => {
    const env = uniqueEnv('crash');
    await commitChanges(ctx.conn, ctx.layout, env, oldState(env, 1000, 200), { expectedCommitRevision: 0, commit: commit('old') });
    const oldRaw = await rawState(env);
    const oldRead = await readEnvironment(ctx.conn, ctx.layout, env);
    const oldFp = `${oldRead.snapshot.services.size}:${fingerprint(oldRead.snapshot)}`;
    const observers = observe(env);
    await observers.watcher.ready();

    proxy.delay(APPLY_DELAY_MS, 'toTarget');
    const apply = startApply({
      environment: env,
      mutations: newState(env, 3000, 200),
      expectedCommitRevision: await commitRevision(env),
      commit: commit('new'),
    });
    const started = Date.now();
    const markerRevision = await waitMidApply(env, 3);
    apply.child.kill('SIGKILL');
    await apply.exited;
    const killedAfterMs = Date.now() - started;
    // Requests the proxy still holds reach etcd before recovery starts.
    await waitFor(() => proxy.connections === 0, { what: 'the dead registry\'s connections to drain' });
    const half = await rawState(env);
    expect(half.has(ctx.layout.pending(env)), 'the marker is left behind').to.equal(true);
    const changedKeys = [...half].filter(([k, v]) => oldRaw.get(k) !== v && k !== ctx.layout.pending(env)).length;
    expect(changedKeys, 'keys changed by the half-done apply').to.be.greaterThan(0);

    const during = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(during.pending?.markerRevision).to.equal(markerRevision);
    expect(`${during.snapshot.services.size}:${fingerprint(during.snapshot)}`).to.equal(oldFp);

    const recoverStarted = Date.now();
    expect(await recoverPendingApply(ctx.conn, ctx.layout, env, { abandonAfterMs: 0 })).to.equal('rolled-back');
    const recoverMs = Date.now() - recoverStarted;
    expect(await rawState(env), 'the old state, key for key').to.deep.equal(oldRaw);
    expect(await recoverPendingApply(ctx.conn, ctx.layout, env, { abandonAfterMs: 0 })).to.equal('none');

    // The same apply, now completed in-process, moves readers to the whole new state at once.
    proxy.heal();
    const res = await commitChanges(ctx.conn, ctx.layout, env, newState(env, 3000, 200), {
      expectedCommitRevision: await commitRevision(env),
      commit: commit('new'),
    });
    const newRead = await readEnvironment(ctx.conn, ctx.layout, env);
    const newFp = `${newRead.snapshot.services.size}:${fingerprint(newRead.snapshot)}`;
    expect(newRead.snapshot.services.size).to.equal(3000);
    await waitFor(() => observers.watcher.current()?.revision === res.revision, { what: 'the watcher to take the new state', timeoutMs: 15_000 });
    await observers.stop();

    const states = [...observers.seen.keys()].map((k) => k.slice(k.indexOf(':') + 1));
    expect(states.filter((s) => s !== oldFp && s !== newFp), `partial states seen: ${[...observers.seen.keys()].join(', ')}`).to.deep.equal([]);
    expect(observers.readsDuringApply(), 'full reads made while the marker was present').to.be.greaterThan(0);
    console.log(
      `      crash mid-apply: killed ${killedAfterMs} ms after start (${res.transactions} txns for the full apply), ${changedKeys} keys half-written; ` +
        `${observers.readsDuringApply()} reads during the apply saw the old state; rollback ${recoverMs} ms; observed ${[...observers.seen].map(([k, n]) => `${k}×${n}`).join(' ')}`,
    );
  });

  it('leaves an apply alone while its registry holds the lease, and rolls it back once the lease expires', async () => {
    const env = uniqueEnv('crash');
    await commitChanges(ctx.conn, ctx.layout, env, oldState(env, 300, 50), { expectedCommitRevision: 0, commit: commit('old') });
    const oldRaw = await rawState(env);
    proxy.delay(APPLY_DELAY_MS, 'toTarget');
    const apply = startApply({
      environment: env,
      mutations: newState(env, 1500, 50),
      expectedCommitRevision: await commitRevision(env),
      commit: commit('new'),
      leaseTtlSeconds: 2,
    });
    const lease = await apply.lease;
    await waitMidApply(env, 2);
    // Frozen, not dead: the lease lives until its TTL runs out.
    apply.child.kill('SIGSTOP');
    expect(await recoverPendingApply(ctx.conn, ctx.layout, env, { abandonAfterMs: 0 })).to.equal('in-progress');
    const half = await rawState(env);
    expect(half.has(ctx.layout.pending(env)), 'the marker stays').to.equal(true);
    expect(JSON.parse(half.get(ctx.layout.pending(env))!).lease).to.equal(lease);
    expect([...half].some(([k, v]) => k !== ctx.layout.pending(env) && oldRaw.get(k) !== v), 'nothing rolled back').to.equal(true);

    apply.child.kill('SIGKILL');
    await apply.exited;
    await waitFor(() => proxy.connections === 0, { what: 'the dead registry\'s connections to drain' });
    const expiredAfter = Date.now();
    await waitFor(async () => Number((await ctx.conn.client.leaseClient.leaseTimeToLive({ ID: lease })).TTL) <= 0, {
      what: 'the registry lease to expire',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const leaseExpiredMs = Date.now() - expiredAfter;
    expect(await recoverPendingApply(ctx.conn, ctx.layout, env, { abandonAfterMs: 0 })).to.equal('rolled-back');
    expect(await rawState(env), 'the old state, key for key').to.deep.equal(oldRaw);
    console.log(`      leased apply: 'in-progress' while frozen, rolled back ${leaseExpiredMs} ms after the kill, once the 2 s lease expired`);
  });
});
