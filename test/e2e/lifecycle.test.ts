import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StackDescription } from '../../stack/stack.js';
import { alive, listening, SMALL_STACK_ARGS, startStackProcess, type RunningStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/** Every process and port of a running stack: `waymark up` itself, etcd, the gateways. */
function parts(stack: RunningStack): { pids: number[]; urls: string[] } {
  const d = stack.description;
  const gateways = Object.values(d.environments).flatMap((e) => e.gateways);
  return {
    pids: [d.pid, ...(d.etcd.pid ? [d.etcd.pid] : []), ...gateways.map((g) => g.pid)],
    urls: [d.registry.url, ...d.etcd.endpoints, ...gateways.map((g) => g.url), ...d.backends.map((b) => b.url)],
  };
}

/** Waits until no process of the stack runs, nothing listens on its ports and its lock is gone. */
async function expectAllGone(stack: RunningStack, timeoutMs: number): Promise<void> {
  const { pids, urls } = parts(stack);
  await waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs, intervalMs: 100, what: `every process of the stack (${pids.join(', ')}) to exit; still running: ${pids.filter(alive).join(', ')}` });
  for (const url of urls) expect(await listening(url), `${url} still listening`).to.equal(false);
  const files = ['stack.lock', 'stack.json'].map((f) => join(stack.stateDir, f));
  await waitFor(() => !files.some(existsSync), { timeoutMs: 10_000, what: `the lock and stack.json to be removed (${files.filter(existsSync).join(', ')})` });
}

/**
 * `npm start` runs `waymark up` under npm and a shell. A signal that reaches only those (Docker,
 * systemd, `kill <npm pid>`), or a SIGKILL of `waymark up` itself, must not leave the stack
 * running orphaned with its lock held.
 */
describe('e2e: the stack stops with what started it (waymark up lifecycle)', function () {
  this.timeout(120_000);
  let stack: RunningStack | undefined;

  afterEach(async () => {
    if (!stack) return;
    // Whatever the test left running (it failed): stop it all.
    for (const pid of parts(stack).pids.filter(alive)) process.kill(pid, 'SIGKILL');
    await stack.stop();
    stack = undefined;
  });

  it('SIGTERM to the parent shell (as to npm): waymark up notices it was orphaned and stops etcd, registry, backends and gateways', async () => {
    stack = await startStackProcess([...SMALL_STACK_ARGS], { underShell: true });
    expect(stack.description.etcd.pid, 'etcd pid in stack.json').to.be.a('number');
    expect(alive(stack.description.pid)).to.equal(true);
    stack.process.kill('SIGTERM');
    await expectAllGone(stack, 30_000);
  });

  it('SIGKILL of waymark up: its reaper stops etcd and the gateways and removes the lock', async () => {
    stack = await startStackProcess([...SMALL_STACK_ARGS]);
    process.kill(stack.description.pid, 'SIGKILL');
    await expectAllGone(stack, 30_000);
  });
});

describe('e2e: waymark up --restart', function () {
  this.timeout(120_000);
  let stack: RunningStack | undefined;

  after(async () => {
    await stack?.stop();
  });

  it('starts a gateway that died again (new pid in stack.json, ready), and stops it with the stack', async () => {
    stack = await startStackProcess([...SMALL_STACK_ARGS, '--restart']);
    const running = stack;
    const old = running.gateway('prod', 'gw-eu-west');
    const current = () => (JSON.parse(readFileSync(join(running.stateDir, 'stack.json'), 'utf8')) as StackDescription).environments.prod.gateways.find((g) => g.id === 'gw-eu-west')!;
    await running.killGateway('prod', 'gw-eu-west');
    const again = await waitFor(() => (current().pid !== old.pid && alive(current().pid) ? current() : undefined), { timeoutMs: 30_000, intervalMs: 100, what: 'the gateway to be started again' });
    await waitFor(async () => (await fetch(`${again.url}/readyz`, { signal: AbortSignal.timeout(1000) })).ok, { timeoutMs: 30_000, what: 'the restarted gateway to be ready' });
    expect(running.output()).to.match(/gateway-prod-gw-eu-west exited \(SIGKILL\); restarting in 1s/).and.to.match(/restarted {3}gateway-prod-gw-eu-west \(pid \d+\)/);
    stack = undefined;
    expect(await running.stop(), 'waymark up exits 0').to.equal(0);
    expect(alive(again.pid), 'the restarted gateway stopped with the stack').to.equal(false);
  });
});

describe('npm start: a second start on a running stack', function () {
  this.timeout(60_000);

  it('says the stack is running before installing or building anything (scripts/start.sh checks the lock first)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'waymark-lock-'));
    // The lock of a running stack: this test process stands in for `waymark up`.
    writeFileSync(join(stateDir, 'stack.lock'), `${process.pid}\n`);
    const dist = join('dist', 'cli', 'waymark.js');
    const builtBefore = existsSync(dist) ? statSync(dist).mtimeMs : undefined;
    try {
      const run = spawnSync('bash', ['scripts/start.sh', '--base-port', '0', '--state-dir', stateDir], { encoding: 'utf8', timeout: 50_000 });
      expect(run.status, run.stderr).to.equal(1);
      expect(run.stderr).to.include(`already running (pid ${process.pid}`).and.to.include('--state-dir');
      const builtAfter = existsSync(dist) ? statSync(dist).mtimeMs : undefined;
      expect(builtAfter, 'dist/ was rebuilt').to.equal(builtBefore);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
