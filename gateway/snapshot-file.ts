import { readFile } from 'node:fs/promises';
import { writePrivateFile } from '../files/index.js';
import type { InternalTopology } from '../openapi/index.js';
import { checkRecord, summarize } from '../topology/index.js';
import { TopologySnapshot } from '../store/index.js';
import { SnapshotFileError } from './errors.js';

/**
 * The gateway's last snapshot on disk (upstreams included, so keep it private to the gateway):
 * written atomically (temporary file, fsync, rename) after each change, read at start so a
 * gateway can serve while etcd is unreachable. Writes are coalesced: at most one runs, and only
 * the newest waiting snapshot is written after it.
 */
export class SnapshotFile {
  private writing: Promise<void> | undefined;
  private next: TopologySnapshot | undefined;
  private written = -1;

  /**
   * @param refusedOrigins origins no gateway record may have (etcd's endpoints): a file planted
   *   or edited by hand must not aim clients at the store
   */
  constructor(
    readonly path: string,
    private readonly onError: (err: SnapshotFileError) => void = () => undefined,
    private readonly refusedOrigins: readonly string[] = [],
  ) {}

  /**
   * The snapshot stored for `environment`, or undefined when there is no file. Throws
   * SnapshotFileError when the file is unreadable or belongs to another environment. Records
   * the core validators reject (a file edited by hand, or written by an older gateway) are left
   * out and passed to `onSkipped`: the file is read like etcd is.
   */
  async read(environment: string): Promise<TopologySnapshot | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SnapshotFileError(this.path, `cannot be read (${(err as Error).message})`, { cause: err });
    }
    let data: InternalTopology;
    try {
      data = JSON.parse(text) as InternalTopology;
    } catch (err) {
      throw new SnapshotFileError(this.path, `is not JSON (${(err as Error).message}); delete it to start without it`, { cause: err });
    }
    if (
      !data ||
      typeof data.environment !== 'string' ||
      !Number.isSafeInteger(data.revision) ||
      !Array.isArray(data.regions) ||
      !Array.isArray(data.services) ||
      !Array.isArray(data.gateways)
    ) {
      throw new SnapshotFileError(this.path, 'is not a Waymark topology snapshot (environment, revision, regions, services, gateways); delete it to start without it');
    }
    if (data.environment !== environment) {
      throw new SnapshotFileError(
        this.path,
        `holds environment ${data.environment}, not ${environment}: give each gateway its own --snapshot file`,
      );
    }
    const refused = new Set(this.refusedOrigins.map(origin));
    const keep = <T>(kind: 'region' | 'service' | 'gateway', list: readonly T[], id: (r: T) => string): T[] =>
      list.filter((r) => {
        const checked = checkRecord(kind, r);
        let problem = checked.ok ? undefined : summarize(checked.problems);
        if (!problem && kind === 'gateway' && refused.has(origin((r as { url: string }).url))) problem = "url: is one of etcd's endpoints";
        if (problem) this.onError(new SnapshotFileError(this.path, `skips ${kind} ${id(r)}: ${problem}`));
        return !problem;
      });
    const name = (r: unknown) => JSON.stringify((r as { name?: unknown; id?: unknown } | null)?.name ?? (r as { id?: unknown } | null)?.id ?? null);
    const { lastCommit, ...records } = data;
    return TopologySnapshot.fromInternal({
      ...records,
      regions: keep('region', data.regions, name),
      services: keep('service', data.services, name),
      gateways: keep('gateway', data.gateways, name),
      ...(lastCommit !== undefined && checkRecord('commit', lastCommit).ok ? { lastCommit } : {}),
    });
  }

  /** Queues a write of `snapshot`; returns when it (or a newer one) is on disk. */
  write(snapshot: TopologySnapshot): Promise<void> {
    if (snapshot.revision <= this.written && !this.writing) return Promise.resolve();
    if (!this.next || snapshot.revision >= this.next.revision) this.next = snapshot;
    this.writing ??= this.drain().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** Waits for writes in progress. */
  async flush(): Promise<void> {
    await this.writing;
  }

  private async drain(): Promise<void> {
    while (this.next) {
      const snapshot = this.next;
      this.next = undefined;
      try {
        await this.writeNow(snapshot);
        this.written = snapshot.revision;
      } catch (err) {
        this.onError(new SnapshotFileError(this.path, `cannot be written (${(err as Error).message})`, { cause: err }));
      }
    }
  }

  private writeNow(snapshot: TopologySnapshot): Promise<void> {
    return writePrivateFile(this.path, JSON.stringify(snapshot.toInternal()));
  }
}

/** The origin of a URL, or the text itself when it is none (then it matches nothing valid). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
