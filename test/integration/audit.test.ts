import { expect } from 'chai';
import type { ApiError, ApplyResult, AuditEntry, AuditList, AuditRecord } from '../../openapi/index.js';
import { connectEtcd, readEnvironment, type TopologySnapshot } from '../../store/index.js';
import { adminCall, applyYaml } from '../support/admin-api.js';
import { runWaymark } from '../support/cli.js';
import { startEtcd } from '../support/etcd.js';
import { environmentYaml, regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { startRegistry, useRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv } from '../support/wait.js';

/** Two regions; `services` each in eu-west, upstream from the variable `up`. */
function manifests(services: string[], extra = ''): string {
  return yamlDocuments(
    regionYaml('eu-west', 'EU'),
    regionYaml('us-east', 'US'),
    ...services.map((s) => serviceYaml(s, { deployments: { 'eu-west': [`\${up}/${s}${extra}`] } })),
  );
}

/** The content of an environment (what every gateway's document is built from). */
function content(s: TopologySnapshot): unknown {
  return { regions: [...s.regions].sort(), services: [...s.services].sort() };
}

describe('audit history and rollback (real etcd)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const reg = useRegistry(ctx);
  const history = (env: string, url = reg.url, token = reg.adminToken) => adminCall<AuditList & ApiError>(url, 'GET', `/v1/environments/${env}/history`, { token });
  const show = (env: string, id: number | string) => adminCall<AuditEntry & ApiError>(reg.url, 'GET', `/v1/environments/${env}/history/${id}`, { token: reg.adminToken });
  const rollback = (env: string, body: unknown, token = reg.adminToken) =>
    adminCall<ApplyResult & ApiError>(reg.url, 'POST', `/v1/environments/${env}/rollback`, { token, type: 'application/json', body: JSON.stringify(body) });
  const snapshot = async (env: string) => (await readEnvironment(ctx.conn, ctx.layout, env)).snapshot;

  it('records every apply and promotion in the transaction that makes it visible, and streams each record', async () => {
    const env = uniqueEnv('audit');
    const target = uniqueEnv('audit-to');
    const streamed: Array<[string, AuditRecord]> = [];
    const listen = (e: string, r: AuditRecord) => streamed.push([e, r]);
    reg.registry.on('audited', listen);
    try {
      const operator = reg.token('operator', [env, target]);
      const a = await applyYaml(reg.url, reg.adminToken, env, yamlDocuments(environmentYaml(env, { up: 'http://10.0.0.1:8080' }), manifests(['hr'])));
      expect(a.status, JSON.stringify(a.body)).to.equal(200);
      const b = await applyYaml(reg.url, operator, env, manifests(['hr', 'crm'], '-b'));
      expect(b.status, JSON.stringify(b.body)).to.equal(200);
      const noop = await applyYaml(reg.url, operator, env, manifests(['hr', 'crm'], '-b'));
      expect(noop.body.changed).to.equal(false);
      await applyYaml(reg.url, reg.adminToken, target, environmentYaml(target, { up: 'http://10.0.0.2:8080' }));
      const p = await adminCall<ApplyResult>(reg.url, 'POST', '/v1/promotions', { token: operator, type: 'application/json', body: JSON.stringify({ from: env, to: target }) });
      expect(p.status).to.equal(200);

      const list = await history(env);
      expect(list.status).to.equal(200);
      // Newest first; a no-op writes nothing and records nothing.
      expect(list.body.records.map((r) => r.id)).to.deep.equal([2, 1]);
      const [second, first] = list.body.records;
      expect(first).to.include({ operation: 'apply', revision: a.body.revision });
      expect(first.by).to.deep.equal({ name: 'test-admin', role: 'admin' });
      expect(second).to.include({ operation: 'apply', revision: b.body.revision });
      expect(second.by.role).to.equal('operator');
      expect(second.summary).to.deep.equal(b.body.summary);
      expect(second.sourceHash).to.match(/^[0-9a-f]{64}$/).and.not.equal(first.sourceHash);
      expect(second.files).to.deep.equal(['(request body)']);
      // Same transaction: the record's own revision is the apply's, which is the commit key's.
      const commit = (await ctx.conn.client.get(ctx.layout.commit(env)).exec()).kvs[0];
      const record = (await ctx.conn.client.get(ctx.layout.auditRecord(env, 2)).exec()).kvs[0];
      expect(Number(record.mod_revision)).to.equal(Number(commit.mod_revision)).and.equal(b.body.revision);
      expect(JSON.parse(record.value.toString()).commitId).to.equal(JSON.parse(commit.value.toString()).id);

      const promoted = (await history(target)).body.records;
      expect(promoted.map((r) => [r.id, r.operation, r.from ?? null])).to.deep.equal([[2, 'promote', env], [1, 'apply', null]]);
      expect(promoted[0].sourceHash).to.equal(second.sourceHash);

      const entry = await show(env, 2);
      expect(entry.status).to.equal(200);
      expect(entry.body.created.map((r) => `${r.kind}/${r.name}`)).to.deep.equal(['Service/crm']);
      expect(entry.body.updated.map((r) => `${r.kind}/${r.name}`)).to.deep.equal(['Service/hr']);
      expect(JSON.stringify(entry.body.updated[0].changes)).to.include('http://10.0.0.1:8080/hr-b');
      expect(entry.body.truncated).to.equal(false);

      expect(streamed.map(([e, r]) => `${e}#${r.id}@${r.revision}`)).to.deep.equal([
        `${env}#1@${a.body.revision}`,
        `${env}#2@${b.body.revision}`,
        `${target}#1@${streamed[2][1].revision}`,
        `${target}#2@${p.body && (p.body as ApplyResult).revision}`,
      ]);
    } finally {
      reg.registry.off('audited', listen);
    }
  });

  it('rolls back to a recorded source with the current variables: apply A, apply B, rollback to A gives A again', async () => {
    const env = uniqueEnv('rollback');
    await applyYaml(reg.url, reg.adminToken, env, environmentYaml(env, { up: 'http://10.0.0.1:8080' }));
    const a = await applyYaml(reg.url, reg.adminToken, env, manifests(['hr', 'crm']));
    expect(a.status).to.equal(200);
    const stateA = content(await snapshot(env));
    const b = await applyYaml(reg.url, reg.adminToken, env, manifests(['hr', 'ads'], '-b'));
    expect(b.status).to.equal(200);
    expect(content(await snapshot(env))).to.not.deep.equal(stateA);
    const idA = (await history(env)).body.records.find((r) => r.revision === a.body.revision)!.id;

    const dry = await rollback(env, { to: idA, dryRun: true });
    expect(dry.status).to.equal(200);
    expect(dry.body).to.include({ dryRun: true, changed: true });
    expect(content(await snapshot(env)), 'a dry run writes nothing').to.not.deep.equal(stateA);

    const back = await rollback(env, { to: idA });
    expect(back.status, JSON.stringify(back.body)).to.equal(200);
    expect(back.body.deleted.map((r) => r.name)).to.deep.equal(['ads']);
    expect(content(await snapshot(env))).to.deep.equal(stateA);
    const newest = (await history(env)).body.records[0];
    expect(newest).to.include({ operation: 'rollback', rollbackOf: idA, revision: back.body.revision });

    // With the variables of now, not of then.
    await applyYaml(reg.url, reg.adminToken, env, environmentYaml(env, { up: 'http://10.0.0.7:8080' }));
    await applyYaml(reg.url, reg.adminToken, env, manifests(['hr'], '-c'));
    const again = await rollback(env, { to: idA });
    expect(again.status).to.equal(200);
    const services = (await snapshot(env)).services;
    expect([...services.keys()].sort()).to.deep.equal(['crm', 'hr']);
    expect(services.get('hr')!.deployments[0].upstreams).to.deep.equal(['http://10.0.0.7:8080/hr']);
  });

  it('refuses unknown or malformed records clearly and writes nothing', async () => {
    const env = uniqueEnv('audit-bad');
    await applyYaml(reg.url, reg.adminToken, env, yamlDocuments(environmentYaml(env, { up: 'http://10.0.0.1:8080' }), manifests(['hr'])));
    const before = Number((await ctx.conn.client.get('/').exec()).header.revision);
    const missing = await rollback(env, { to: 99 });
    expect(missing.status).to.equal(404);
    expect(missing.body.message).to.include('no audit record 99');
    expect((await rollback(env, { to: 'one' })).status).to.equal(400);
    expect((await rollback(env, { to: 1, force: true })).body.message).to.include('unknown field "force"');
    expect((await show(env, 'x1')).status).to.equal(400);
    expect((await show(env, 5)).status).to.equal(404);
    expect((await history('no-such-env')).status).to.equal(404);
    expect((await rollback(env, { to: 1 }, reg.token('viewer'))).status).to.equal(403);
    expect(Number((await ctx.conn.client.get('/').exec()).header.revision)).to.equal(before);
  });

  it('keeps the last N records per environment, with the sources they name, never losing the one just written', async () => {
    const small = await startRegistry({ endpoints: ctx.etcd.endpoints, audit: { keep: 2 } });
    try {
      const env = uniqueEnv('audit-keep');
      await applyYaml(small.url, small.adminToken, env, environmentYaml(env, { up: 'http://10.0.0.1:8080' }));
      for (const s of ['a1', 'a2', 'a3', 'a4']) {
        expect((await applyYaml(small.url, small.adminToken, env, manifests([s]), '?prune=true')).status).to.equal(200);
      }
      const records = (await history(env, small.url, small.adminToken)).body.records;
      expect(records.map((r) => r.id)).to.deep.equal([5, 4]);
      const blobs = await ctx.conn.client.getAll().prefix(ctx.layout.auditSources(env)).keys();
      const hashes = new Set(blobs.map((k) => k.slice(ctx.layout.auditSources(env).length).split('/')[0]));
      expect([...hashes].sort()).to.deep.equal(records.map((r) => r.sourceHash).sort());
      expect((await adminCall(small.url, 'GET', `/v1/environments/${env}/history/3`, { token: small.adminToken })).status).to.equal(404);
    } finally {
      await small.close();
    }
  });

  it('prunes a trail whose bound was lowered over the next applies, never failing one', async function () {
    // An etcd that takes 8 operations per transaction, and registries that know it: room for 5
    // deletes in an apply's last transaction, and 6 records (with their 6 sources) to drop to keep 1.
    const small = await startEtcd({ extraArgs: ['--max-txn-ops', '8'] });
    const first = await startRegistry({ endpoints: small.endpoints, maxTxnOps: 8 });
    const lowered = await startRegistry({ endpoints: small.endpoints, audit: { keep: 1 }, maxTxnOps: 8 });
    try {
      const env = uniqueEnv('audit-lowered');
      await applyYaml(first.url, first.adminToken, env, environmentYaml(env, { up: 'http://10.0.0.1:8080' }));
      for (const s of ['b1', 'b2', 'b3', 'b4', 'b5']) await applyYaml(first.url, first.adminToken, env, manifests([s]), '?prune=true');
      const ids: number[][] = [];
      for (const s of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']) {
        const res = await applyYaml(lowered.url, lowered.adminToken, env, manifests([s]), '?prune=true');
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        ids.push((await history(env, lowered.url, lowered.adminToken)).body.records.map((r) => r.id));
      }
      expect(ids[0]).to.deep.equal([7, 6]);
      expect(ids[ids.length - 1]).to.deep.equal([12]);
      const conn = connectEtcd({ endpoints: small.endpoints });
      try {
        expect(await conn.client.getAll().prefix(ctx.layout.auditSources(env)).keys()).to.have.length(1);
      } finally {
        conn.close();
      }
    } finally {
      await lowered.close();
      await first.close();
      await small.stop();
    }
  });

  it('records a multi-transaction apply in its last transaction', async () => {
    const chunked = await startRegistry({ endpoints: ctx.etcd.endpoints, maxTxnOps: 4 });
    try {
      const env = uniqueEnv('audit-chunked');
      const res = await applyYaml(chunked.url, chunked.adminToken, env, yamlDocuments(environmentYaml(env, { up: 'http://10.0.0.1:8080' }), manifests(['s1', 's2', 's3', 's4', 's5', 's6'])));
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const [record] = (await history(env, chunked.url, chunked.adminToken)).body.records;
      expect(record.revision).to.equal(res.body.revision);
      expect(record.summary.created).to.equal(9);
    } finally {
      await chunked.close();
    }
  });

  it('waymark history lists and shows, waymark rollback rolls back', async function () {
    this.timeout(120_000);
    const env = uniqueEnv('audit-cli');
    await applyYaml(reg.url, reg.adminToken, env, yamlDocuments(environmentYaml(env, { up: 'http://10.0.0.1:8080' }), manifests(['hr'])));
    await applyYaml(reg.url, reg.adminToken, env, manifests(['hr', 'crm']));
    const cli = { WAYMARK_REGISTRY: reg.url, WAYMARK_TOKEN: reg.adminToken };
    const table = await runWaymark(['history', '-e', env], cli);
    expect(table.code, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/^ID\s+AT\s+OPERATION\s+BY\s+ROLE\s+REVISION\s+CHANGES\s+SOURCE/);
    expect(table.stdout).to.match(/\n2\s+\S+\s+apply\s+test-admin\s+admin\s+\d+\s+\+1 ~0 -0/);
    const json = await runWaymark(['history', '-e', env, '-o', 'json'], cli);
    expect((JSON.parse(json.stdout) as AuditList).records.map((r) => r.id)).to.deep.equal([2, 1]);
    const shown = await runWaymark(['history', '-e', env, '--show', '2'], cli);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.stdout).to.include('record 2 of').and.include('+ Service/crm').and.include('1 created, 0 updated, 0 deleted');
    const back = await runWaymark(['rollback', '-e', env, '--to', '1'], cli);
    expect(back.code, back.stderr).to.equal(0);
    expect(back.stdout).to.include('- Service/crm');
    const bad = await runWaymark(['rollback', '-e', env, '--to', 'latest'], cli);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('--to "latest"');
  });
});
