import { spawn } from 'node:child_process';

/** What one `waymark …` run printed, and how it exited. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `waymark …` from source as a child process, as a user would (from the repository root), killed after 60 s. */
export function runWaymark(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/waymark.ts', ...args], {
      cwd: process.cwd(),
      env: { ...process.env, NO_COLOR: '1', WAYMARK_REGISTRY: undefined, WAYMARK_TOKEN: undefined, WAYMARK_ENVIRONMENT: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
