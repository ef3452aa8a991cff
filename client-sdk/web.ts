import { ClientCore } from './client.js';
import type { WaymarkClientOptions } from './options.js';
import { webPlatform } from './platform-web.js';

/** The Waymark client in browsers and edge runtimes: fetch, and an optional localStorage cache (`cacheKey`). */
export class WaymarkClient extends ClientCore {
  constructor(options: WaymarkClientOptions) {
    super(options, webPlatform());
  }
}
