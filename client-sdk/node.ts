import { ClientCore } from './client.js';
import type { WaymarkClientOptions } from './options.js';
import { nodePlatform } from './platform-node.js';

/** The Waymark client on Node: node:http with keep-alive agents and connect tracing, an optional cache file. */
export class WaymarkClient extends ClientCore {
  constructor(options: WaymarkClientOptions) {
    super(options, nodePlatform());
  }
}
