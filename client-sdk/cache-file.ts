import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PRIVATE_DIR_MODE, writePrivateFile } from '../files/index.js';
import type { TopologyDocument } from '../openapi/index.js';
import { checkDocument } from './document.js';
import { InvalidTopologyError } from './errors.js';

/** What the cache file holds: the last good document and when a gateway last confirmed it. */
export interface CachedTopology {
  document: TopologyDocument;
  confirmedAt: Date;
}

/**
 * The last good topology on disk, so a restart while no gateway answers can still route.
 * Writes go to a private temporary file (created exclusively, never through a symlink) that is
 * renamed over the cache, so a crash mid-write leaves the previous file whole and the result is
 * 0600 (it names the gateways and services); writes are serialized and the latest one wins.
 */
export class CacheFile {
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** The cached topology; undefined when there is no file; InvalidTopologyError when it is unusable. */
  async read(): Promise<CachedTopology | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const source = `cache file ${this.path}`;
    let data: { document?: unknown; confirmedAt?: unknown };
    try {
      data = JSON.parse(text) as typeof data;
    } catch (err) {
      throw new InvalidTopologyError(source, 'malformed', [`not JSON: ${(err as Error).message}`]);
    }
    const confirmedAt = new Date(typeof data?.confirmedAt === 'string' ? data.confirmedAt : Number.NaN);
    if (Number.isNaN(confirmedAt.getTime())) throw new InvalidTopologyError(source, 'malformed', ['confirmedAt: must be a date-time']);
    return { document: checkDocument(data.document, source), confirmedAt };
  }

  /** Writes atomically (tmp + rename); resolves when this write (and those before it) are done. */
  write(entry: CachedTopology): Promise<void> {
    const body = JSON.stringify({ confirmedAt: entry.confirmedAt.toISOString(), document: entry.document });
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
