// The browser demo of `npm start`: the SDK's browser bundle calling every service of the
// environment once a second from this page, showing which region answered. Query parameters:
// bootstrap (gateway URLs, comma-separated), region, environment, intervalMs.
import { WaymarkClient } from '/demo/waymark-client.js';

const params = new URLSearchParams(location.search);
const bootstrap = (params.get('bootstrap') ?? '').split(',').filter(Boolean);
const region = params.get('region') ?? undefined;
const environment = params.get('environment') ?? undefined;
const intervalMs = Number(params.get('intervalMs') ?? 1000);
const $ = (id) => document.getElementById(id);
const rows = new Map();

function event(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
  $('events').prepend(li);
  while ($('events').children.length > 50) $('events').lastChild.remove();
}

function row(service) {
  let r = rows.get(service);
  if (r) return r;
  const tr = document.createElement('tr');
  tr.dataset.service = service;
  const cells = {};
  for (const field of ['service', 'region', 'gateway', 'instance', 'calls', 'failovers', 'error']) {
    const td = document.createElement('td');
    td.dataset.field = field;
    tr.append(td);
    cells[field] = td;
  }
  cells.service.textContent = service;
  $('services').append(tr);
  r = { tr, cells, calls: 0, failovers: 0 };
  rows.set(service, r);
  return r;
}

async function call(client, service) {
  const r = row(service);
  try {
    const res = await client.request(service, { url: '/demo' });
    r.calls += 1;
    r.tr.dataset.ok = 'true';
    r.tr.dataset.region = res.data.region;
    r.cells.region.textContent = res.data.region;
    r.cells.gateway.textContent = res.headers['x-waymark-gateway'] ?? '';
    r.cells.instance.textContent = res.data.instance;
    r.cells.calls.textContent = String(r.calls);
    r.cells.error.textContent = '';
  } catch (err) {
    r.tr.dataset.ok = 'false';
    r.cells.error.textContent = err.code ?? err.message;
  }
}

async function main() {
  if (bootstrap.length === 0) throw new Error('give ?bootstrap=<gateway URL> (waymark up prints this page’s link)');
  // No latency probes: a gateway's /healthz is not cross-origin readable; the region is given.
  const client = new WaymarkClient({ bootstrap, region, environment, probeLatency: false, cacheKey: `waymark:demo:${environment ?? 'any'}`, connectTimeoutMs: 500, ejectionBaseMs: 1000 });
  client.on('topology', (doc) => {
    $('revision').textContent = String(doc.revision);
    $('environment').textContent = doc.environment;
    event(`topology revision ${doc.revision}`);
  });
  client.on('failover', (e) => {
    row(e.service).failovers += 1;
    row(e.service).cells.failovers.textContent = String(row(e.service).failovers);
    event(`failover ${e.service}: ${e.from.id} (${e.from.region}, ${e.error}) → ${e.to.id} (${e.to.region})`);
  });
  client.on('ejected', (e) => event(`ejected ${e.gateway.id} (${e.scope}) until ${e.until.toISOString().slice(11, 19)}`));
  $('region').textContent = region ?? 'the nearest region';
  await client.ready();
  $('status').textContent = 'running';
  $('status').dataset.status = 'running';
  for (;;) {
    const services = client.topology().services.map((s) => s.name).sort();
    await Promise.all(services.map((s) => call(client, s)));
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

main().catch((err) => {
  $('status').textContent = `failed: ${err.message}`;
  $('status').dataset.status = 'failed';
});
