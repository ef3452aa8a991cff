/**
 * Public API of the Waymark client SDK on Node (`waymark/client`, condition `node`): the client
 * over node:http. Browsers and edge runtimes get `browser.ts` (fetch, localStorage), with the same API.
 */
export * from './api.js';
export { WaymarkClient } from './node.js';
