import { spawn } from 'node:child_process';
import { cliArgs } from './stack.js';

/** What one `waymark …` run printed, and how it exited. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `waymark …` as a child process, as a user would (from the repository root), without colours; SIGKILLed after `timeoutMs`. */
export function runWaymark(args: readonly string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliArgs(), ...args], {
      env: { ...process.env, NO_COLOR: '1', WAYMARK_REGISTRY: undefined, WAYMARK_TOKEN: undefined, WAYMARK_ENVIRONMENT: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
