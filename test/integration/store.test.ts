import { buildDocument } from '../../gateway/document.js';
import { expect } from 'chai';
import { commitChanges, ConflictError, EtcdUnavailableError, LeasedKeys, readEnvironment, recoverPendingApply, TopologyWatcher, type Mutation, type TopologySnapshot } from '../../store/index.js';
import { connectEtcd } from '../../store/index.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

describe('topology store (real etcd)', function () {
  const ctx = useEtcd();

  function puts(env: string, regions: string[], services: string[]): Mutation[] {
    return [
      ...regions.map((r): Mutation => ({ type: 'put', key: ctx.layout.region(env, r), value: JSON.stringify(region(r)) })),
      ...services.map((s): Mutation => ({ type: 'put', key: ctx.layout.service(env, s), value: JSON.stringify(service(s, regions)) })),
    ];
  }
  const commit = (id: string) => ({ id, at: new Date().toISOString(), summary: { created: 0, updated: 0, deleted: 0, unchanged: 0 } });

  it('writes a set of changes atomically and reads the environment at one revision', async () => {
    const env = uniqueEnv();
    const res = await commitChanges(ctx.conn, ctx.layout, env, puts(env, ['eu-west', 'us-east'], ['hr', 'catalog']), {
      expectedCommitRevision: 0,
      commit: commit('a1'),
    });
    expect(res.transactions).to.equal(1);
    const read = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(read.revision).to.be.at.least(res.revision);
    expect([...read.snapshot.regions.keys()]).to.deep.equal(['eu-west', 'us-east']);
    expect([...read.snapshot.services.keys()].sort()).to.deep.equal(['catalog', 'hr']);
    expect(read.snapshot.commit?.id).to.equal('a1');
    const doc = buildDocument(read.snapshot, { maxStaleSeconds: 60, refreshIntervalSeconds: 30, refreshJitterSeconds: 5 });
    expect(JSON.stringify(doc)).not.to.include('127.0.0.1:1');
  });

  it('rejects a write guarded by a stale revision and changes nothing', async () => {
    const env = uniqueEnv();
    await commitChanges(ctx.conn, ctx.layout, env, puts(env, ['eu-west'], ['hr']), { expectedCommitRevision: 0, commit: commit('a1') });
    const before = await readEnvironment(ctx.conn, ctx.layout, env);
    let err: unknown;
    try {
      await commitChanges(ctx.conn, ctx.layout, env, puts(env, ['us-east'], ['crm']), { expectedCommitRevision: 0, commit: commit('a2') });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConflictError);
    expect((err as ConflictError).code).to.equal('CONFLICT');
    const after = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(after.snapshot.sameContent(before.snapshot)).to.equal(true);
  });

  it('applies 10 000 services in many transactions that readers see all at once', async function () {
    this.timeout(120_000);
    const env = uniqueEnv();
    const names = Array.from({ length: 10_000 }, (_, i) => `svc-${i}`);
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env).start();
    try {
      await watcher.ready();
      const seen: number[] = [];
      watcher.on('snapshot', (s) => seen.push(s.services.size));
      const res = await commitChanges(ctx.conn, ctx.layout, env, puts(env, ['eu-west'], names), {
        expectedCommitRevision: 0,
        commit: commit('big'),
      });
      expect(res.transactions).to.be.greaterThan(2);
      await waitFor(() => watcher.current()?.services.size === 10_000, { what: 'the watcher to see 10 000 services', timeoutMs: 30_000 });
      expect(seen.every((n) => n === 0 || n === 10_000), `partial states seen: ${seen.join(',')}`).to.equal(true);
      const read = await readEnvironment(ctx.conn, ctx.layout, env);
      expect(read.snapshot.services.size).to.equal(10_000);
    } finally {
      await watcher.close();
    }
  });

  it('shows readers the old state while a multi-transaction apply is unfinished, and rolls back an abandoned one', async () => {
    const env = uniqueEnv();
    await commitChanges(ctx.conn, ctx.layout, env, puts(env, ['eu-west'], ['hr']), { expectedCommitRevision: 0, commit: commit('a1') });
    const commitRev = Number((await ctx.conn.client.get(ctx.layout.commit(env)).exec()).kvs[0].mod_revision);
    // Simulate a registry that died after the marker and one chunk.
    await ctx.conn.client.put(ctx.layout.pending(env)).value(JSON.stringify({ id: 'dead', startedAt: '2000-01-01T00:00:00Z' })).exec();
    await ctx.conn.client.put(ctx.layout.service(env, 'half')).value(JSON.stringify(service('half', ['eu-west']))).exec();
    await ctx.conn.client.delete().key(ctx.layout.service(env, 'hr')).exec();
    const during = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(during.pending?.id).to.equal('dead');
    expect([...during.snapshot.services.keys()]).to.deep.equal(['hr']);
    let conflict: unknown;
    try {
      await commitChanges(ctx.conn, ctx.layout, env, [], { expectedCommitRevision: commitRev, commit: commit('a2') });
    } catch (e) {
      conflict = e;
    }
    expect(conflict).to.be.instanceOf(ConflictError);
    expect(await recoverPendingApply(ctx.conn, ctx.layout, env)).to.equal('rolled-back');
    const after = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(after.pending).to.equal(undefined);
    expect([...after.snapshot.services.keys()]).to.deep.equal(['hr']);
  });

  it('watches changes into new snapshots with increasing revisions', async () => {
    const env = uniqueEnv();
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env).start();
    try {
      const first = await watcher.ready();
      const snaps: TopologySnapshot[] = [];
      watcher.on('snapshot', (s) => snaps.push(s));
      const res = await commitChanges(ctx.conn, ctx.layout, env, puts(env, ['eu-west'], ['hr']), { expectedCommitRevision: 0, commit: commit('a1') });
      await waitFor(() => watcher.current()?.services.has('hr'), { what: 'hr in the snapshot' });
      expect(watcher.current()!.revision).to.equal(res.revision);
      expect(watcher.current()!.revision).to.be.greaterThan(first.revision);
      // Writes outside the topology (a gateway report) do not move the snapshot.
      await ctx.conn.client.put(ctx.layout.report(env, 'eu-west', 'gw-1')).value('{}').exec();
      await ctx.conn.client.put(ctx.layout.source(env, 0)).value('kind: Region').exec();
      const count = snaps.length;
      await ctx.conn.client.put(ctx.layout.region(env, 'us-east')).value(JSON.stringify(region('us-east', 'US'))).exec();
      await waitFor(() => watcher.current()?.regions.has('us-east'), { what: 'us-east' });
      expect(snaps.length).to.equal(count + 1);
    } finally {
      await watcher.close();
    }
  });

  it('removes a leased key when its lease expires, and re-registers after a lost lease', async function () {
    this.timeout(20_000);
    const env = uniqueEnv();
    const key = ctx.layout.gateway(env, 'eu-west', 'gw-1');
    const leased = new LeasedKeys(ctx.conn, { ttlSeconds: 1 });
    await leased.put(key, JSON.stringify({ id: 'gw-1', region: 'eu-west', url: 'http://x', status: 'up', startedAt: new Date().toISOString() }));
    await leased.start();
    expect(await ctx.conn.client.get(key).string()).to.be.a('string');
    // Revoke the lease behind its back, as an expiry during an outage would.
    const lost = new Promise((resolve) => leased.once('lost', resolve));
    await ctx.conn.client.leaseClient.leaseRevoke({ ID: leased.id! });
    await waitFor(async () => (await ctx.conn.client.get(key).string()) === null, { what: 'key removed with its lease' });
    await lost;
    await waitFor(async () => (await ctx.conn.client.get(key).string()) !== null, { what: 're-registration', timeoutMs: 10_000 });
    await leased.close();
    expect(await ctx.conn.client.get(key).string()).to.equal(null);

    const expiring = ctx.conn.client.lease(1, { autoKeepAlive: false });
    await expiring.put(ctx.layout.gateway(env, 'eu-west', 'gw-2')).value('{}');
    await waitFor(async () => (await ctx.conn.client.get(ctx.layout.gateway(env, 'eu-west', 'gw-2')).string()) === null, {
      what: 'lease expiry',
      timeoutMs: 5000,
    });
  });

  it('recovers from compaction by re-reading, never going back in revision', async () => {
    const env = uniqueEnv();
    await commitChanges(ctx.conn, ctx.layout, env, puts(env, ['eu-west'], ['hr']), { expectedCommitRevision: 0, commit: commit('a1') });
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env).start();
    try {
      const first = await watcher.ready();
      const resyncs: string[] = [];
      watcher.on('resync', (r) => resyncs.push(r));
      // Cut the watch, write and compact past its resume point, then let it reconnect.
      await (watcher as unknown as { cancelWatch(): Promise<void> }).cancelWatch();
      await ctx.conn.client.put(ctx.layout.region(env, 'us-east')).value(JSON.stringify(region('us-east', 'US'))).exec();
      const put = await ctx.conn.client.put(ctx.layout.region(env, 'ap-south')).value(JSON.stringify(region('ap-south', 'APAC'))).exec();
      await ctx.conn.client.kv.compact({ revision: put.header.revision, physical: true });
      watcher.resync('test');
      await waitFor(() => watcher.current()?.regions.has('ap-south'), { what: 'the re-read after compaction' });
      expect(watcher.current()!.revision).to.be.greaterThan(first.revision);
      expect(resyncs).to.include('test');
    } finally {
      await watcher.close();
    }
  });

  it('serves the last snapshot as stale while etcd is down and resyncs after a restart', async function () {
    this.timeout(40_000);
    const env = uniqueEnv();
    const member = ctx.etcd.members[0];
    const conn = connectEtcd({ endpoints: ctx.etcd.endpoints, callTimeoutMs: 1000 });
    const watcher = new TopologyWatcher(conn, ctx.layout, env, { probeIntervalMs: 200 }).start();
    try {
      await commitChanges(conn, ctx.layout, env, puts(env, ['eu-west'], ['hr']), { expectedCommitRevision: 0, commit: commit('a1') });
      await waitFor(() => watcher.current()?.services.has('hr'), { what: 'hr' });
      const before = watcher.current()!.revision;
      await member.kill();
      await waitFor(() => watcher.stale, { what: 'the watcher to notice etcd is down' });
      expect(watcher.current()!.services.has('hr')).to.equal(true);
      let err: unknown;
      try {
        await readEnvironment(conn, ctx.layout, env);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(EtcdUnavailableError);
      await member.restart();
      // The shared client may still skip the member for a moment (its circuit breaker): retry.
      await waitFor(
        () => ctx.conn.client.put(ctx.layout.service(env, 'crm')).value(JSON.stringify(service('crm', ['eu-west']))).exec(),
        { what: 'a write after the restart', timeoutMs: 10_000 },
      );
      await waitFor(() => !watcher.stale && watcher.current()?.services.has('crm'), { what: 'resync after restart', timeoutMs: 20_000 });
      expect(watcher.current()!.revision).to.be.greaterThan(before);
    } finally {
      await watcher.close();
      conn.close();
    }
  });
});
