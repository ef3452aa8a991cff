import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineBuffer } from '../../telemetry/line-buffer.js';
import { waitFor } from '../support/wait.js';

describe('LineBuffer: batched log writes', () => {
  let dir: string;
  let file: string;
  let fd: number;
  const buffers: LineBuffer[] = [];
  const open = (options: { bufferBytes?: number; flushIntervalMs?: number; maxPendingBytes?: number } = {}) => {
    const b = new LineBuffer({ fd, bufferBytes: 100, flushIntervalMs: 60_000, maxPendingBytes: 1000, ...options });
    buffers.push(b);
    return b;
  };
  const written = () => readFileSync(file, 'utf8');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waymark-line-buffer-'));
    file = join(dir, 'log');
    fd = openSync(file, 'w');
  });
  afterEach(() => {
    for (const b of buffers.splice(0)) b.close();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds lines until bufferBytes are pending, then writes them in order in one batch', () => {
    const b = open();
    b.write('a'.repeat(40) + '\n');
    b.write('b'.repeat(40) + '\n');
    expect(written()).to.equal('');
    b.write('c'.repeat(40) + '\n');
    expect(written()).to.equal(`${'a'.repeat(40)}\n${'b'.repeat(40)}\n${'c'.repeat(40)}\n`);
  });

  it('writes what is pending on every flush interval, and on close', async () => {
    const b = open({ flushIntervalMs: 20 });
    b.write('tick\n');
    await waitFor(() => written() === 'tick\n', { what: 'the interval flush' });
    const c = open();
    c.write('last\n');
    c.close();
    expect(written()).to.equal('tick\nlast\n');
  });

  it('drops lines beyond maxPendingBytes and counts them, keeping the earlier ones', () => {
    const b = open({ bufferBytes: 10_000, maxPendingBytes: 30 });
    for (let i = 0; i < 5; i++) b.write(`line ${i}..\n`);
    b.flush();
    expect(written()).to.equal('line 0..\nline 1..\nline 2..\n');
    expect(b.dropped).to.equal(2);
  });

  it('writes the lines still pending when the process exits (createLogger on stderr, then process.exit)', () => {
    const script = "import { createLogger } from './telemetry/index.ts'; const l = createLogger({ name: 'x' }); for (let i = 0; i < 5; i++) l.info({ i }, 'before exit'); process.exit(0);";
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.status, child.stderr).to.equal(0);
    const lines = child.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { i: number });
    expect(lines.map((l) => l.i)).to.deep.equal([0, 1, 2, 3, 4]);
  });

  it('calls back once flushed (pino logger.flush)', () => {
    const b = open({ bufferBytes: 10_000 });
    b.write('x\n');
    let called = false;
    b.flush(() => (called = true));
    expect(called).to.equal(true);
    expect(written()).to.equal('x\n');
  });
});
