import type { StackDescription } from './stack.js';

/** The short tour `waymark up` prints once the stack runs. */
export function formatGuide(d: StackDescription, token: string): string {
  const prod = d.environments.prod ?? Object.values(d.environments)[0];
  const envName = d.environments.prod ? 'prod' : Object.keys(d.environments)[0];
  const first = prod?.gateways.find((g) => !g.dispatch);
  const eu = prod?.gateways.find((g) => g.region === 'eu-west' && !g.dispatch) ?? first;
  const us = prod?.gateways.find((g) => g.region !== eu?.region && !g.dispatch) ?? first;
  const dispatcher = prod?.gateways.find((g) => g.dispatch);
  const lines: string[] = [];
  lines.push('', 'Waymark is running. Ctrl-C stops everything.', '');
  lines.push(`registry   ${d.registry.url}   (admin token below; also in ${d.registry.tokenFile})`);
  lines.push(`dashboard  ${d.registry.url}/   (paste the admin token once)`);
  if (eu) lines.push(`demo       ${demoUrl(d.registry.url, prod?.gateways.filter((g) => !g.dispatch).map((g) => g.url) ?? [], eu.region, envName ?? 'prod')}   (the SDK in the browser)`);
  lines.push(`etcd       ${d.etcd.endpoints.join(',')}${d.etcd.managed ? '' : '   (external)'}`);
  for (const [env, { gateways }] of Object.entries(d.environments)) {
    lines.push('', `gateways of ${env}:`);
    for (const g of gateways) lines.push(`  ${g.region.padEnd(11)} ${g.id.padEnd(14)} ${g.url}${g.dispatch ? '   (dispatches misdirected calls)' : ''}`);
  }
  lines.push('', 'Try:');
  lines.push(`  curl -s ${first?.url}/.well-known/topology | head -c 600; echo`);
  lines.push(`  curl -i ${eu?.url}/.well-known/topology/services/hr`);
  lines.push(`  curl -s ${eu?.url}/catalog/v1/items/42          # served in ${eu?.region}`);
  lines.push(`  curl -i ${us?.url}/hr/v1/employees               # 421: hr is pinned to the EU`);
  if (dispatcher) lines.push(`  curl -s ${dispatcher.url}/crm/v1/accounts          # forwarded by the dispatcher`);
  lines.push(`  etcdctl --endpoints ${d.etcd.endpoints[0]} watch --prefix /waymark/v1/${envName}/`);
  lines.push('', 'CLI:');
  lines.push(`  export WAYMARK_REGISTRY=${d.registry.url} WAYMARK_TOKEN=${token}`);
  lines.push(`  node dist/cli/waymark.js status --environment ${envName}`);
  lines.push('  node dist/cli/waymark.js promote --from dev --to prod --dry-run');
  // Not on the npm registry: installed from this folder or a tarball of it (README "Installing").
  lines.push('', 'SDK (not on the npm registry: `npm pack` here, then `npm install <path>/waymark-<version>.tgz` in your project):');
  lines.push(`  import { WaymarkClient } from 'waymark/client';`);
  lines.push(`  const client = new WaymarkClient({`);
  lines.push(`    bootstrap: [${prod?.gateways.filter((g) => !g.dispatch).slice(0, 2).map((g) => `'${g.url}'`).join(', ')}],`);
  lines.push(`    region: '${eu?.region}', environment: '${envName}',`);
  lines.push('  });');
  lines.push('  await client.ready();');
  lines.push(`  const res = await client.request<{ region: string }>('catalog', { method: 'GET', url: '/items/42' });`);
  lines.push('  console.log(res.data.region);                 // the region that served it');
  lines.push(`  client.on('failover', (e) => console.log('failover', e));`);
  lines.push('  await client.close();');
  lines.push('', `State, logs and stack.json are in ${d.stateDir}.`, '');
  return lines.join('\n');
}

/** The browser demo page of the registry, bootstrapped from `gateways`, calling from `region`. */
export function demoUrl(registry: string, gateways: readonly string[], region: string, environment: string): string {
  // Gateway URLs are origins (no '&', '#' or ','), readable as they are in a query.
  return `${registry}/demo?bootstrap=${gateways.join(',')}&region=${encodeURIComponent(region)}&environment=${encodeURIComponent(environment)}`;
}
