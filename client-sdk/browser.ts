/**
 * Public API of the Waymark client SDK in browsers and edge runtimes (`waymark/client`,
 * conditions `browser` and `default`; bundled as `dist/browser/waymark-client.js`): the same API
 * as on Node, over fetch, with no Node built-in anywhere in its import graph.
 */
export * from './api.js';
export { WaymarkClient } from './web.js';
