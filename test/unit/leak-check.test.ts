import { expect } from 'chai';
import { spawn } from 'node:child_process';

/** Runs mocha (with the repository's .mocharc.json) on one file; resolves with its exit code and stderr. */
function mocha(file: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['node_modules/mocha/bin/mocha.js', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('leak check (mocha without exit: true)', function () {
  this.timeout(90_000);

  it('fails a run that leaves a server listening, naming it, instead of hanging', async () => {
    const run = await mocha('test/support/fixtures/leaking-suite.ts', { WAYMARK_LEAK_GRACE_MS: '1000' });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.include('a test did not stop what it started').and.match(/Server 127\.0\.0\.1:\d+/);
  });
});
