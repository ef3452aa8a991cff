/**
 * The upstream policy's rules, shared by the registry and the gateway; depends on neither.
 * `ip-address` does the address arithmetic, `upstream-rules` the rules, `resolve` the name
 * lookups, `records` the etcd values that carry policies and registry addresses.
 */
export * from './ip-address.js';
export * from './upstream-rules.js';
export * from './resolve.js';
export * from './records.js';
