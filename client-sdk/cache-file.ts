import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PRIVATE_DIR_MODE, writePrivateFile } from '../files/index.js';
import { parseCached, serializeCached } from './cache-format.js';
import type { CachedTopology, TopologyCache } from './platform.js';

export type { CachedTopology };

/**
 * The last good topology on disk, so a restart while no gateway answers can still route.
 * Writes go to a private temporary file (created exclusively, never through a symlink) that is
 * renamed over the cache, so a crash mid-write leaves the previous file whole and the result is
 * 0600 (it names the gateways and services); writes are serialized and the latest one wins.
 */
export class CacheFile implements TopologyCache {
  private writing: Promise<void> = Promise.resolve();
  readonly source: string;

  constructor(readonly path: string) {
    this.source = `cache file ${path}`;
  }

  /** The cached topology; undefined when there is no file; InvalidTopologyError when it is unusable. */
  async read(): Promise<CachedTopology | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseCached(text, this.source);
  }

  /** Writes atomically (tmp + rename); resolves when this write (and those before it) are done. */
  write(entry: CachedTopology): Promise<void> {
    const body = serializeCached(entry);
    const next = this.writing.then(() => this.replace(body));
    // The chain survives a failed write; the caller still sees its own failure.
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async replace(body: string): Promise<void> {
    // A folder the application names may be shared: create it private, leave an existing one as it is.
    await mkdir(dirname(this.path), { recursive: true, mode: PRIVATE_DIR_MODE });
    await writePrivateFile(this.path, body);
  }
}
