import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { startGateway } from '../support/gateway.js';
import { useRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

interface WatchProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function runWatch(args: string[], env: Record<string, string>): WatchProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/waymark.ts', 'watch', ...args], {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

describe('waymark watch (registry event stream, real etcd)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const reg = useRegistry(ctx);

  const apply = async (env: string, yaml: string) => {
    const res = await fetch(`${reg.url}/v1/environments/${env}/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': 'application/yaml' },
      body: yaml,
    });
    expect(res.status).to.equal(200);
    return ((await res.json()) as { revision: number }).revision;
  };

  it('prints applies (who, what, revision) and gateways joining and leaving, one line each', async () => {
    const env = uniqueEnv('watch');
    await apply(env, 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU, provider: cloud-a }\n');
    const watch = runWatch(['--environment', env], { WAYMARK_REGISTRY: reg.url, WAYMARK_TOKEN: reg.adminToken });
    try {
      await waitFor(() => watch.stderr().includes(`watching ${env} at revision`), { timeoutMs: 20_000, what: `watch to connect: ${watch.stderr()}` });
      const revision = await apply(
        env,
        'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: billing }\nspec:\n  basePath: /billing/v1\n  placement: pinned\n  jurisdictions: [EU]\n  deployments:\n    - { region: eu-west, upstreams: ["http://10.1.2.3:8080/secret-upstream"] }\n',
      );
      await waitFor(() => watch.stdout().includes('by test-admin'), { what: 'the commit line' });
      const lines = watch.stdout().trim().split('\n');
      expect(lines[0]).to.match(new RegExp(`^rev ${revision}  \\d\\d:\\d\\d:\\d\\d  service billing added: /billing/v1, pinned to EU, in eu-west$`));
      expect(lines[1]).to.match(new RegExp(`^rev ${revision}  .*apply: 1 created, 0 updated, 0 deleted by test-admin$`));

      const gw = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-watched' });
      await waitFor(() => watch.stdout().includes('gateway eu-west/gw-watched added'), { what: 'the gateway to join' });
      await gw.close();
      await waitFor(() => watch.stdout().includes('gateway eu-west/gw-watched removed'), { what: 'the gateway to leave' });
      // Upstream addresses are not shown (they are not public); the token never is.
      expect(watch.stdout()).not.to.include('10.1.2.3');
      expect(watch.stdout() + watch.stderr()).not.to.include(reg.adminToken);
    } finally {
      watch.child.kill('SIGINT');
      expect(await watch.exited).to.equal(0);
    }
  });

  it('prints JSON lines with -o json, and exits 1 naming the problem when the token is refused', async () => {
    const env = uniqueEnv('watch');
    // Watching an environment that does not exist yet is refused (exit 1, see cli.test.ts): create it first.
    await apply(env, 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU }\n');
    const watch = runWatch(['-e', env, '-o', 'json'], { WAYMARK_REGISTRY: reg.url, WAYMARK_TOKEN: reg.adminToken });
    try {
      await waitFor(() => watch.stderr().includes(`watching ${env}`), { timeoutMs: 20_000, what: 'watch to connect' });
      const revision = await apply(
        env,
        'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU }\n---\napiVersion: waymark/v1\nkind: Region\nmetadata: { name: us-east }\nspec: { jurisdiction: US }\n',
      );
      await waitFor(() => watch.stdout().includes('"kind":"commit"'), { what: 'the commit line' });
      const changes = watch.stdout().trim().split('\n').map((l) => JSON.parse(l) as { kind: string; action: string; name: string; revision: number });
      expect(changes[0]).to.include({ kind: 'region', action: 'added', name: 'us-east', revision });
    } finally {
      watch.child.kill('SIGTERM');
      await watch.exited;
    }

    const refused = runWatch(['-e', env], { WAYMARK_REGISTRY: reg.url, WAYMARK_TOKEN: 'wmk_not-a-token' });
    expect(await refused.exited).to.equal(1);
    expect(refused.stderr()).to.include('token is not valid');
  });

  it('reconnects with backoff while the registry is down (5 s and more), then prints new changes', async () => {
    const env = uniqueEnv('watch');
    await apply(env, 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU, provider: cloud-a }\n');
    const watch = runWatch(['--environment', env], { WAYMARK_REGISTRY: reg.url, WAYMARK_TOKEN: reg.adminToken });
    let exitCode: number | null | undefined;
    void watch.exited.then((code) => (exitCode = code));
    try {
      await waitFor(() => watch.stderr().includes(`watching ${env} at revision`), { timeoutMs: 20_000, what: `watch to connect: ${watch.stderr()}` });
      await reg.stop();
      const downAt = Date.now();
      // Down for 5 s and at least three failed attempts (the old watch gave up after one 2 s retry).
      await waitFor(() => exitCode !== undefined || (Date.now() - downAt >= 5000 && (watch.stderr().match(/retrying in/g) ?? []).length >= 3), {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'watch to retry for 5 s',
      });
      expect(exitCode, `watch exited while the registry was down: ${watch.stderr()}`).to.equal(undefined);
      await reg.start();
      await waitFor(() => (watch.stderr().match(/watching .* at revision/g) ?? []).length >= 2, { timeoutMs: 30_000, what: `watch to reconnect: ${watch.stderr()}` });
      await apply(env, 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: us-east }\nspec: { jurisdiction: US, provider: cloud-a }\n');
      await waitFor(() => watch.stdout().includes('region us-east added'), { timeoutMs: 20_000, what: `the change after the outage: ${watch.stdout()}` });
      expect(exitCode).to.equal(undefined);
    } finally {
      await reg.start();
      watch.child.kill('SIGINT');
      expect(await watch.exited).to.equal(0);
    }
  });
});
