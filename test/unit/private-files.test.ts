import { expect } from 'chai';
import { chmodSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CacheFile } from '../../client-sdk/cache-file.js';
import { makePrivateDirSync, writePrivateFile, writePrivateFileSync } from '../../files/index.js';
import { SnapshotFile } from '../../gateway/snapshot-file.js';
import { addToken } from '../../registry/auth/tokens.js';
import { StackLock } from '../../stack/lock.js';
import { Supervisor } from '../../stack/supervisor.js';
import { TopologySnapshot } from '../../store/index.js';
import { topologyDoc } from '../support/topology-doc.js';

/**
 * Every file Waymark writes goes through files/: a local user who plants a symlink or a
 * world-writable file at a temporary name cannot redirect the write, nor widen the result's mode.
 */
describe('private file writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'waymark-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const mode = (path: string) => statSync(path).mode & 0o777;
  /** The temporary names the writers used before: predictable from the pid. */
  const oldTemporaryNames = (path: string) => [join(dirname(path), `.${basename(path)}.${process.pid}.tmp`), `${path}.${process.pid}.tmp`];

  const writers: Array<{ name: string; file: string; write: (path: string) => Promise<unknown> }> = [
    { name: 'writePrivateFile', file: 'data.json', write: (p) => writePrivateFile(p, '{"secret":1}') },
    { name: 'writePrivateFileSync', file: 'data.json', write: async (p) => writePrivateFileSync(p, '{"secret":1}') },
    {
      name: "the gateway's snapshot file",
      file: 'snapshot.json',
      write: async (p) => {
        const errors: Error[] = [];
        const file = new SnapshotFile(p, (err) => errors.push(err));
        await file.write(TopologySnapshot.empty('prod', 5));
        if (errors.length) throw errors[0];
      },
    },
    { name: "waymark token create's tokens file", file: 'tokens.json', write: async (p) => addToken(p, { role: 'viewer', name: `t${Math.random().toString(36).slice(2)}` }) },
    {
      name: "the SDK's cache file",
      file: 'topology.json',
      write: (p) => new CacheFile(p).write({ document: topologyDoc({ regions: [{ name: 'eu-west', gateways: [{ url: 'http://eu' }] }], services: [] }), confirmedAt: new Date() }),
    },
    { name: "waymark up's lock file", file: 'stack.lock', write: async (p) => new StackLock(p).acquire() },
  ];

  for (const w of writers) {
    it(`${w.name}: a symlink planted at a temporary name is not followed; the result is a new 0600 file`, async () => {
      const victim = join(dir, 'victim');
      writeFileSync(victim, 'victim');
      chmodSync(victim, 0o644);
      const target = join(dir, w.file);
      for (const name of oldTemporaryNames(target)) symlinkSync(victim, name);
      await w.write(target);
      expect(readFileSync(victim, 'utf8'), 'the symlink target').to.equal('victim');
      expect(mode(victim), "the symlink target's mode").to.equal(0o644);
      expect(lstatSync(target).isFile(), 'the result is a regular file, not a link').to.equal(true);
      expect(mode(target)).to.equal(0o600);
    });

    it(`${w.name}: a pre-created 0666 file (target or temporary name) does not make the result world-writable`, async () => {
      const target = join(dir, w.file);
      for (const name of [target, ...oldTemporaryNames(target)]) {
        writeFileSync(name, name === target && w.file === 'tokens.json' ? '{"tokens": []}' : '');
        chmodSync(name, 0o666);
      }
      await w.write(target);
      expect(mode(target)).to.equal(0o600);
    });
  }

  it("waymark up's logs are 0600 (also when one existed with 0666) and its folders 0700", async () => {
    const logs = join(dir, 'state', 'logs');
    makePrivateDirSync(join(dir, 'state'));
    chmodSync(join(dir, 'state'), 0o755);
    makePrivateDirSync(join(dir, 'state'));
    expect(mode(join(dir, 'state'))).to.equal(0o700);
    const supervisor = new Supervisor(logs);
    expect(mode(logs)).to.equal(0o700);
    writeFileSync(join(logs, 'old.log'), 'before\n');
    chmodSync(join(logs, 'old.log'), 0o666);
    for (const name of ['new', 'old']) supervisor.start({ name, command: process.execPath, args: ['-e', 'console.log("hello")'] });
    await supervisor.stopAll();
    for (const name of ['new', 'old']) expect(mode(join(logs, `${name}.log`)), name).to.equal(0o600);
  });
});
