import axios from 'axios';
import { InvalidOptionsError } from './errors.js';
import { StorageCache, type WebStorage } from './cache-storage.js';
import type { Platform } from './platform.js';

/**
 * Browsers and edge runtimes: axios's fetch adapter, and a cache in localStorage when there is
 * one. fetch cannot tell whether a connection was established, so a failed call is taken to have
 * reached the gateway (only idempotent calls are retried); the attempt and call deadlines apply
 * as on Node.
 */
export function webPlatform(): Platform {
  return {
    adapter: axios.getAdapter('fetch'),
    exchange: (_connectTimeoutMs, trace) => {
      trace.connected = true;
      return {};
    },
    isStream: (data) => typeof ReadableStream !== 'undefined' && data instanceof ReadableStream,
    cache({ cacheFile, cacheKey }) {
      if (cacheFile !== undefined) throw new InvalidOptionsError('cacheFile needs a file system, which this runtime does not have: use cacheKey (localStorage)');
      if (cacheKey === undefined) return undefined;
      const storage = (globalThis as { localStorage?: WebStorage }).localStorage;
      if (!storage) throw new InvalidOptionsError('cacheKey needs localStorage, which this runtime does not have');
      return new StorageCache(storage, cacheKey);
    },
    close() {
      // fetch pools connections itself.
    },
  };
}
