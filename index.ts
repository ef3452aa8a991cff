/** Server-side API of Waymark (`import … from 'waymark'`): the store, the registry and the gateway. */
export * from './registry/index.js';
export * from './gateway/index.js';
