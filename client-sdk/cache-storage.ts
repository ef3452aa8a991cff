import { parseCached, serializeCached } from './cache-format.js';
import type { CachedTopology, TopologyCache } from './platform.js';

/** The part of the Web Storage API (localStorage) the cache uses; the SDK is built without DOM types. */
export interface WebStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The last good topology in a Web Storage entry (localStorage), for browsers. */
export class StorageCache implements TopologyCache {
  readonly source: string;

  constructor(
    private readonly storage: WebStorage,
    readonly key: string,
  ) {
    this.source = `localStorage ${key}`;
  }

  async read(): Promise<CachedTopology | undefined> {
    const text = this.storage.getItem(this.key);
    return text === null ? undefined : parseCached(text, this.source);
  }

  /** setItem is synchronous and whole: no torn entry. A full quota rejects, as a failed file write does. */
  async write(entry: CachedTopology): Promise<void> {
    this.storage.setItem(this.key, serializeCached(entry));
  }
}
