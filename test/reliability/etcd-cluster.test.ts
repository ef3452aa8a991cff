import { expect } from 'chai';
import { commitChanges, connectEtcd, EtcdTimeoutError, EtcdUnavailableError, KeyLayout, LeasedKeys, readEnvironment, TopologyWatcher, type EtcdConnection, type TopologySnapshot } from '../../store/index.js';
import { WaymarkError } from '../../topology/index.js';
import { startEtcdCluster, type EtcdCluster, type EtcdMember } from '../support/etcd.js';
import { region, service } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const CALL_TIMEOUT_MS = 2000;
const PROBE_INTERVAL_MS = 200;

/**
 * Member loss in a 3-member etcd, seen through the store: acknowledged writes survive a leader
 * kill, and losing quorum turns into bounded errors and a stale (not empty) watcher that recovers
 * by itself. The tests run in order and share one cluster: the second starts with a member down.
 */
describe('etcd member loss (3-member cluster, store level)', function () {
  this.timeout(60_000);
  const layout = new KeyLayout();
  const env = uniqueEnv('cluster');
  let cluster: EtcdCluster;
  let conn: EtcdConnection;
  let watcher: TopologyWatcher;
  let leased: LeasedKeys;
  const snapshots: TopologySnapshot[] = [];
  /** Services whose commit was acknowledged: they must all survive. */
  const acked: string[] = [];
  const perMember = new Map<EtcdMember, EtcdConnection>();
  const gatewayKey = layout.gateway(env, 'eu-west', 'gw-1');

  before(async function () {
    this.timeout(30_000);
    cluster = await startEtcdCluster(3);
    conn = connectEtcd({ endpoints: cluster.endpoints, callTimeoutMs: CALL_TIMEOUT_MS });
    for (const m of cluster.members) perMember.set(m, connectEtcd({ endpoints: [m.clientUrl], callTimeoutMs: 1000 }));
    await commitChanges(conn, layout, env, [{ type: 'put', key: layout.region(env, 'eu-west'), value: JSON.stringify(region('eu-west')) }], {
      expectedCommitRevision: 0,
      commit: commit('seed'),
    });
    watcher = new TopologyWatcher(conn, layout, env, { probeIntervalMs: PROBE_INTERVAL_MS }).start();
    watcher.on('snapshot', (s) => snapshots.push(s));
    await watcher.ready();
    leased = new LeasedKeys(conn, { ttlSeconds: 5 });
    await leased.put(gatewayKey, JSON.stringify({ id: 'gw-1', region: 'eu-west', url: 'http://127.0.0.1:1', status: 'up', startedAt: new Date().toISOString() }));
    await leased.start();
  });

  after(async () => {
    await leased?.close().catch(() => undefined);
    await watcher?.close();
    conn?.close();
    for (const c of perMember.values()) c.close();
    await cluster?.stop();
  });

  function commit(id: string) {
    return { id, at: new Date().toISOString(), summary: { created: 1, updated: 0, deleted: 0, unchanged: 0 } };
  }

  /** Revision of the commit key, the guard of the next write (read again after an unknown outcome). */
  async function commitRevision(): Promise<number> {
    const kv = (await conn.call((c) => c.get(layout.commit(env)).exec())).kvs[0];
    return kv ? Number(kv.mod_revision) : 0;
  }

  /** The member that is leader by its own account (status: leader id == its member id). */
  async function leader(not?: EtcdMember): Promise<EtcdMember> {
    return waitFor(
      async () => {
        for (const m of cluster.members.filter((x) => x.running && x !== not)) {
          const status = await perMember.get(m)!.call((c) => c.maintenance.status()).catch(() => undefined);
          if (status && status.leader !== '0' && status.leader === status.header.member_id) return m;
        }
        return undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'a leader' },
    );
  }

  it('keeps every acknowledged write through a leader SIGKILL, and watchers keep delivering', async () => {
    const victim = await leader();
    const killAfter = 40;
    const needAfterKill = 100;
    const deadline = Date.now() + 30_000;
    let expected = await commitRevision();
    let killedAt = 0;
    let killing: Promise<void> | undefined;
    let firstAckAfterKill = 0;
    let lastAckAt = Date.now();
    let maxGapMs = 0;
    const failures: string[] = [];
    let snapshotsAtKill = 0;
    let elected: Promise<number> | undefined;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      if (acked.length === killAfter && !killing) {
        // Not awaited: the next write is in flight while the leader dies.
        killedAt = Date.now();
        snapshotsAtKill = snapshots.length;
        killing = victim.kill();
        elected = leader(victim).then(() => Date.now() - killedAt);
      }
      const name = `s-${i}`;
      try {
        const res = await commitChanges(conn, layout, env, [{ type: 'put', key: layout.service(env, name), value: JSON.stringify(service(name, ['eu-west'])) }], {
          expectedCommitRevision: expected,
          commit: commit(name),
        });
        const now = Date.now();
        expected = res.revision;
        acked.push(name);
        maxGapMs = Math.max(maxGapMs, now - lastAckAt);
        lastAckAt = now;
        if (killing && !firstAckAfterKill) firstAckAfterKill = now;
        if (killing && acked.length >= killAfter + needAfterKill) break;
      } catch (err) {
        // Unknown outcome (it may have committed): not counted as acknowledged; re-read the guard.
        failures.push(err instanceof WaymarkError ? err.code : String(err));
        expected = await waitFor(() => commitRevision().then((r) => ({ r })), { what: 'the commit revision', timeoutMs: 10_000 }).then((x) => x.r);
      }
    }
    await killing;
    expect(acked.length, `acknowledged writes (failures: ${failures.join(',')})`).to.be.at.least(killAfter + needAfterKill);
    const pauseMs = firstAckAfterKill - killedAt;
    const electionMs = await elected;

    const read = await readEnvironment(conn, layout, env);
    const missing = acked.filter((s) => !read.snapshot.services.has(s));
    expect(missing, 'acknowledged writes lost').to.deep.equal([]);
    await waitFor(() => acked.every((s) => watcher.current()?.services.has(s)) && !watcher.stale, {
      what: 'the watcher to deliver every acknowledged write',
      timeoutMs: 10_000,
    });
    expect(snapshots.length, 'snapshots delivered after the kill').to.be.greaterThan(snapshotsAtKill);
    for (let i = 1; i < snapshots.length; i++) expect(snapshots[i].revision).to.be.greaterThan(snapshots[i - 1].revision);
    expect(leased.state).to.equal('alive');
    expect(await conn.call((c) => c.get(gatewayKey).string())).to.be.a('string');
    console.log(
      `      leader kill: new leader in ${electionMs} ms; write pause ${pauseMs} ms (max gap between acks ${maxGapMs} ms), ${acked.length} acked, ` +
        `${failures.length} failed [${failures.join(',')}], 0 lost; watcher saw ${snapshots.length - snapshotsAtKill} snapshots after the kill`,
    );
  });

  it('without quorum: writes fail within the deadline, the watcher goes stale keeping its snapshot, and recovers', async () => {
    const down = cluster.members.filter((m) => !m.running);
    if (down.length === 0) {
      const first = cluster.members.find((m) => m.running)!;
      await first.kill();
      down.push(first);
    }
    expect(down.length).to.equal(1);
    await waitFor(() => acked.every((s) => watcher.current()?.services.has(s)) && !watcher.stale, { what: 'a fresh watcher' });
    const before = watcher.current()!;
    let expected = await commitRevision();
    // A short lease that will be lost without quorum: closing it mid re-grant must not hang.
    const doomed = new LeasedKeys(conn, { ttlSeconds: 1 });
    await doomed.start();
    const second = cluster.members.find((m) => m.running)!;
    const killedAt = Date.now();
    await second.kill();
    down.push(second);

    // Each attempt must end within the call deadline with a quorum error, never hang.
    const errorMs: number[] = [];
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      let err: unknown;
      try {
        await commitChanges(conn, layout, env, [{ type: 'put', key: layout.service(env, `nq-${i}`), value: JSON.stringify(service(`nq-${i}`, ['eu-west'])) }], {
          expectedCommitRevision: expected,
          commit: commit(`nq-${i}`),
        });
      } catch (e) {
        err = e;
      }
      errorMs.push(Date.now() - started);
      expect(errorMs[i], `write ${i} took`).to.be.below(CALL_TIMEOUT_MS + 3000);
      expect(err, `write ${i} without quorum`).to.satisfy((e: unknown) => e instanceof EtcdTimeoutError || e instanceof EtcdUnavailableError);
      if (err instanceof EtcdTimeoutError) expect(err.code).to.equal('ETCD_NO_QUORUM');
      codes.push((err as WaymarkError).code);
      expected = -1;
    }
    const staleSince = await waitFor(() => watcher.staleSince, {
      what: 'the watcher to mark itself stale',
      timeoutMs: CALL_TIMEOUT_MS + PROBE_INTERVAL_MS + 3000,
    });
    const staleMs = staleSince.getTime() - killedAt;
    expect(staleMs, 'time to stale').to.be.below(CALL_TIMEOUT_MS + PROBE_INTERVAL_MS + 3000);
    expect(watcher.current(), 'the last snapshot is kept').to.equal(before);
    await waitFor(() => doomed.state === 'granting', { what: 'the short lease to be lost and re-granted', timeoutMs: 10_000, intervalMs: 10 });
    const closeStarted = Date.now();
    const closed = await Promise.race([
      doomed.close().then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), CALL_TIMEOUT_MS + 2000).unref()),
    ]);
    expect(closed, 'LeasedKeys.close() during a re-grant without quorum returns').to.equal(true);
    const closeMs = Date.now() - closeStarted;

    const restoreStarted = Date.now();
    await Promise.all(down.map((m) => m.restart()));
    const restoredAt = Date.now();
    // The watcher re-reads by itself: nothing is written, so it catches up to etcd's revision.
    await waitFor(() => !watcher.stale, { what: 'the watcher to be fresh again', timeoutMs: 20_000 });
    const freshAt = Date.now();
    const latest = await readEnvironment(conn, layout, env);
    expect(watcher.current()!.sameContent(latest.snapshot)).to.equal(true);
    expect(watcher.current()!.revision).to.be.at.least(before.revision);
    // And it is live again: a write after the outage reaches it through the watch.
    const res = await commitChanges(conn, layout, env, [{ type: 'put', key: layout.service(env, 'after'), value: JSON.stringify(service('after', ['eu-west'])) }], {
      expectedCommitRevision: await commitRevision(),
      commit: commit('after'),
    });
    await waitFor(() => watcher.current()?.revision === res.revision && watcher.current()?.services.has('after'), { what: 'the post-outage write' });
    for (const s of acked) expect(latest.snapshot.services.has(s), s).to.equal(true);
    await waitFor(async () => leased.state === 'alive' && (await conn.call((c) => c.get(gatewayKey).string())) !== null, {
      what: 'the leased registration after the outage',
      timeoutMs: 15_000,
    });
    console.log(
      `      no quorum: writes failed after ${errorMs.join('/')} ms [${codes.join(',')}] (callTimeoutMs ${CALL_TIMEOUT_MS}); ` +
        `watcher stale ${staleMs} ms after the kill; lease close ${closeMs} ms; restore: members healthy in ${restoredAt - restoreStarted} ms, watcher fresh ${freshAt - restoredAt} ms later`,
    );
  });
});
