/** Server-side API of Waymark (`import … from 'waymark'`): the core rules, the store, telemetry, the registry and the gateway. */
export * from './topology/index.js';
export * from './store/index.js';
export * from './telemetry/index.js';
export * from './registry/index.js';
export * from './gateway/index.js';
export * from './agent/index.js';
