import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { StackDescription, StackGateway } from '../../stack/stack.js';
import { registerServer } from './contract-servers.js';
import { waitFor } from './wait.js';

/** The CLI of this checkout: the build when present (what `npm start` runs), else the source via tsx. */
export function cliArgs(): string[] {
  return existsSync('dist/cli/waymark.js') ? ['dist/cli/waymark.js'] : ['--import', 'tsx', 'cli/waymark.ts'];
}

/** A `waymark up` child process on free ports with its own state folder. */
export interface RunningStack {
  readonly description: StackDescription;
  readonly process: ChildProcess;
  readonly stateDir: string;
  /** What `waymark up` printed so far. */
  output(): string;
  token(): string;
  gateway(env: string, id: string): StackGateway;
  /** SIGKILLs a gateway of the stack (no lease revoke). */
  killGateway(env: string, id: string): Promise<void>;
  /** Runs a stopped gateway again with the command line the stack used. */
  restartGateway(env: string, id: string): Promise<void>;
  /** SIGTERM to `waymark up`, waits for it to exit, removes the state folder. */
  stop(): Promise<number | null>;
}

export interface StackProcessOptions {
  /** How long `waymark up` may take to start, ms. Default 90000. */
  timeoutMs?: number;
  /**
   * Run `waymark up` under a shell that waits for it, as `npm start` does (npm, then a shell):
   * `process` is then that shell. Default false.
   */
  underShell?: boolean;
}

/** The stack's small configuration: prod only, gateways in eu-west (one regional gateway and the dispatcher). */
export const SMALL_STACK_ARGS = ['--environments', 'prod', '--regions', 'eu-west'] as const;

export async function startStackProcess(args: string[] = [], { timeoutMs = 90_000, underShell = false }: StackProcessOptions = {}): Promise<RunningStack> {
  const stateDir = mkdtempSync(join(tmpdir(), 'waymark-stack-'));
  const command = [process.execPath, ...cliArgs(), 'up', '--base-port', '0', '--state-dir', stateDir, ...args];
  // `; exit $?` keeps bash from exec'ing its last command: it stays the parent, like npm's shell.
  const [file, ...argv] = underShell ? ['bash', '-c', '"$@"; exit $?', 'bash', ...command] : command;
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const restarted = new Map<string, ChildProcess>();
  let description: StackDescription;
  try {
    description = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`waymark up exited ${child.exitCode}: ${out}`);
        const file = join(stateDir, 'stack.json');
        return existsSync(file) && out.includes('Waymark is running') ? (JSON.parse(readFileSync(file, 'utf8')) as StackDescription) : undefined;
      },
      { timeoutMs, intervalMs: 100, what: 'waymark up to start' },
    );
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    rmSync(stateDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- output ---\n${out}`);
  }
  // The stack's registry and gateways answer under the contract's eye (test/support/contract-hooks.ts).
  const unregister = [
    registerServer(description.registry.url, 'registry'),
    ...Object.values(description.environments).flatMap((e) => e.gateways.map((g) => registerServer(g.url, 'gateway'))),
  ];
  const gateway = (env: string, id: string) => {
    const g = description.environments[env]?.gateways.find((x) => x.id === id);
    if (!g) throw new Error(`no gateway ${id} in ${env}`);
    return g;
  };
  const pidOf = (env: string, id: string) => restarted.get(`${env}/${id}`)?.pid ?? gateway(env, id).pid;
  return {
    description,
    process: child,
    stateDir,
    output: () => out,
    token: () => readFileSync(description.registry.tokenFile, 'utf8').trim(),
    gateway,
    async killGateway(env, id) {
      const pid = pidOf(env, id);
      process.kill(pid, 'SIGKILL');
      await waitFor(() => !alive(pid), { what: `gateway ${id} to die` });
    },
    async restartGateway(env, id) {
      const g = gateway(env, id);
      const again = spawn(g.command[0], g.command.slice(1), { stdio: 'ignore' });
      restarted.set(`${env}/${id}`, again);
      await waitFor(
        async () => (await fetch(`${g.url}/readyz`, { signal: AbortSignal.timeout(1000) })).ok,
        { timeoutMs: 20_000, what: `gateway ${id} to be ready again` },
      );
    },
    async stop() {
      for (const c of restarted.values()) {
        if (c.exitCode === null) {
          c.kill('SIGTERM');
          await new Promise((r) => c.once('exit', r));
        }
      }
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      for (const u of unregister) u();
      rmSync(stateDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** Whether a process with this pid runs; a zombie (exited, not yet reaped by its parent) does not. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // `pid (comm) S ...`: the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Whether something accepts TCP connections at this URL's host and port. */
export function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
