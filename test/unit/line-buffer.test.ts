import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
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
    const b = new LineBuffer({ fd, bufferBytes: 100, flushIntervalMs: 60_000, maxPendingBytes: 1000, sharedFd: false, ...options });
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

  it('keeps lines whole when processes share one pipe that fills (the workers of waymark gateway --workers N on one stderr)', async function () {
    this.timeout(120_000);
    // Two writers on one pipe, read slowly so it fills: a write past PIPE_BUF, or one the pipe
    // takes in part, lets the other process's lines land inside a line.
    const writer = (id: string) =>
      `node --import tsx --input-type=module -e "import { LineBuffer } from './telemetry/line-buffer.ts'; const b = new LineBuffer({ fd: 2, bufferBytes: 8192, flushIntervalMs: 100, maxPendingBytes: 64 * 1024 * 1024, sharedFd: true }); const pad = 'x'.repeat(300); for (let i = 0; i < 20000; i++) { b.write('{\\"w\\":\\"${id}\\",\\"i\\":' + i + ',\\"pad\\":\\"' + pad + '\\"}\\n'); if (i % 100 === 0) await new Promise((r) => setImmediate(r)); } b.close();"`;
    const child = spawn('sh', ['-c', `{ ${writer('A')} & ${writer('B')} & wait; } 2>&1 >/dev/null | cat`], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
    const chunks: Buffer[] = [];
    const out = child.stdout;
    out.on('data', (d: Buffer) => {
      chunks.push(d);
      out.pause();
      setTimeout(() => out.resume(), 2);
    });
    await new Promise<void>((resolve) => out.once('end', () => resolve()));
    const lines = Buffer.concat(chunks).toString().split('\n').filter(Boolean);
    const broken = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(lines.length).to.be.at.least(1000);
    expect(broken.length, `broken lines, such as ${broken[0]?.slice(0, 120)}`).to.equal(0);
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
