import { expect } from 'chai';
import { importGraph } from '../support/import-graph.js';

/**
 * Each package may load only what its users can afford: the SDK ships to client apps (no koa,
 * no etcd3), the gateway is the data plane (never the control plane), and the core is shared
 * by both (no dependency, no Node built-in).
 */
describe('import graphs', () => {
  it('topology/ (the core) reaches only topology/ and the contract types: no package, no Node built-in', () => {
    const { files, packages, builtins } = importGraph('topology/index.ts');
    expect(files).to.include('topology/candidates.ts');
    for (const f of files) expect(f, f).to.match(/^(topology|openapi)\//);
    expect([...packages]).to.deep.equal([]);
    expect([...builtins]).to.deep.equal([]);
  });

  it('files/ (private file writes) reaches only files/ and Node built-ins', () => {
    const { files, packages, builtins } = importGraph('files/index.ts');
    for (const f of files) expect(f, f).to.match(/^files\//);
    expect([...packages]).to.deep.equal([]);
    for (const b of builtins) expect(b, `${b} must use the node: prefix`).to.match(/^node:/);
  });

  it('client-sdk/ reaches only client-sdk/, topology/, files/ and openapi/ sources, node: builtins and axios', () => {
    const { files, packages, builtins } = importGraph('client-sdk/index.ts');
    expect(files).to.include('client-sdk/transport.ts');
    expect(files).to.include('openapi/generated/waymark.ts');
    expect(files).to.include('files/private-file.ts');
    for (const f of files) expect(f, f).to.match(/^(client-sdk|topology|files|openapi)\//);
    expect([...packages]).to.deep.equal(['axios']);
    for (const b of builtins) expect(b, `${b} must use the node: prefix`).to.match(/^node:/);
  });

  it('policy/ (the upstream rules) reaches only policy/, the core and the contract types, and Node built-ins', () => {
    const { files, packages, builtins } = importGraph('policy/index.ts');
    for (const f of files) expect(f, f).to.match(/^(policy|topology|openapi)\//);
    expect([...packages]).to.deep.equal([]);
    for (const b of builtins) expect(b, `${b} must use the node: prefix`).to.match(/^node:/);
  });

  it('gateway/ reaches the core, the upstream rules, the store and telemetry, never registry/ or client-sdk/, koa, yaml or axios', () => {
    const { files, packages, builtins } = importGraph('gateway/index.ts');
    expect(files).to.include('gateway/proxy.ts');
    expect(files).to.include('store/watch.ts');
    expect(files).to.include('policy/upstream-rules.ts');
    for (const f of files) expect(f, f).to.match(/^(gateway|topology|policy|store|telemetry|files|openapi)\//);
    expect([...packages].sort()).to.deep.equal(['cockatiel', 'etcd3', 'pino', 'prom-client', 'undici']);
    for (const b of builtins) expect(b, `${b} must use the node: prefix`).to.match(/^node:/);
  });

  it('agent/ reaches only agent/, the SDK, the core, file writes and the contract types, node: builtins and axios', () => {
    const { files, packages, builtins } = importGraph('agent/index.ts');
    expect(files).to.include('client-sdk/transport.ts');
    for (const f of files) expect(f, f).to.match(/^(agent|client-sdk|topology|files|openapi)\//);
    expect([...packages]).to.deep.equal(['axios']);
    for (const b of builtins) expect(b, `${b} must use the node: prefix`).to.match(/^node:/);
  });
});
