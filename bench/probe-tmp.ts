import { connectEtcd, KeyLayout } from '../registry/index.js';
import { writeTopology } from '../test/support/gateway.js';
import { startEtcd } from '../test/support/etcd.js';
import { startBackendProcess } from './fixtures/backend.js';
import { gatewayOptions, startInProcessGateway } from './fixtures/gateways.js';
import { execSync } from 'node:child_process';
const etcd = await startEtcd();
const backend = await startBackendProcess();
const conn = connectEtcd({ endpoints: etcd.endpoints });
await writeTopology(conn, new KeyLayout(), 'p', {
  regions: [{ name: 'eu-west', jurisdiction: 'EU' }],
  services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
});
const gw = await startInProcessGateway(gatewayOptions(etcd.endpoints, 'p', 'eu-west', 'g'), new AbortController().signal);
const run = (cmd: string) => new Promise<string>((resolve) => { import('node:child_process').then(cp => cp.exec(cmd, (e, out) => resolve(out))); });
for (const c of [1, 4, 16]) {
  console.log('c', c, 'direct', (await run(`wrk -t1 -c${c} -d2s ${backend.url}/catalog/v1/x`)).split('\n').filter(l => /Req|Lat/.test(l)).join(' | '));
  console.log('c', c, 'gateway', (await run(`wrk -t1 -c${c} -d2s ${gw.url}/catalog/v1/x`)).split('\n').filter(l => /Req|Lat/.test(l)).join(' | '));
}
console.log(await run(`curl -s -D - -o /dev/null ${gw.url}/catalog/v1/x`));
await gw.close(); conn.close(); await backend.close(); await etcd.stop();
