import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import axios from 'axios';
import { CacheFile } from './cache-file.js';
import { tracingTransport } from './connection.js';
import { InvalidOptionsError } from './errors.js';
import type { Platform } from './platform.js';

/** Node: axios's node:http adapter over keep-alive agents, connect tracing, and a cache file. */
export function nodePlatform(): Platform {
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true });
  return {
    adapter: axios.getAdapter('http'),
    exchange: (connectTimeoutMs, trace) => ({ transport: tracingTransport(connectTimeoutMs, trace), httpAgent, httpsAgent }),
    isStream: (data) => data instanceof Readable,
    cache({ cacheFile, cacheKey }) {
      if (cacheKey !== undefined) throw new InvalidOptionsError('cacheKey names a localStorage entry, which Node does not have: use cacheFile');
      return cacheFile !== undefined ? new CacheFile(cacheFile) : undefined;
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
