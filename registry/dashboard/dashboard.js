// Waymark dashboard: plain browser JavaScript, served as-is by the registry (no build, no CDN).
// It reads the admin API with the token from sessionStorage (sent in the Authorization header,
// never in a URL) and follows GET /v1/environments/{env}/events, a Server-Sent Events stream read
// with fetch() because EventSource cannot send headers.
'use strict';

const TOKEN_KEY = 'waymark.token';
const RECONNECT_MS = 2000;
const MAX_CHANGES = 50;

const $ = (id) => document.getElementById(id);

/** Creates an element; children are nodes or text (never parsed as HTML). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  environment: '',
  stream: null,
  view: null,
  lastChange: undefined,
  /** `env@revision` of the commit the audit list was last read for. */
  auditFor: undefined,
};

class AuthError extends Error {}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${state.token}` }, cache: 'no-store' });
  if (res.status === 401 || res.status === 403) {
    const body = await res.json().catch(() => ({}));
    throw new AuthError(body.message || `the registry refused the token (${res.status})`);
  }
  return res;
}

function showLogin(message) {
  stopStream();
  $('main').hidden = true;
  $('login').hidden = false;
  $('sign-out').hidden = true;
  $('env-select').disabled = true;
  $('login-error').textContent = message || '';
  setLive('off', 'offline');
  $('token-input').focus();
}

async function connect() {
  try {
    const res = await api('/v1/environments');
    if (!res.ok) throw new Error(`GET /v1/environments answered ${res.status}`);
    const { environments } = await res.json();
    $('login').hidden = true;
    $('main').hidden = false;
    $('sign-out').hidden = false;
    const select = $('env-select');
    select.replaceChildren(...environments.map((e) => h('option', { value: e.name }, e.name)));
    select.disabled = environments.length === 0;
    const wanted = new URLSearchParams(location.hash.slice(1)).get('env');
    const names = environments.map((e) => e.name);
    const env = names.includes(wanted) ? wanted : names.includes(state.environment) ? state.environment : names[0];
    if (!env) {
      $('map').replaceChildren(h('p', { class: 'muted' }, 'No environment yet: apply manifests with waymark apply.'));
      return;
    }
    select.value = env;
    openEnvironment(env);
  } catch (err) {
    if (err instanceof AuthError) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = '';
      showLogin(err.message);
    } else {
      setLive('error', `registry unreachable: ${err.message}`);
      setTimeout(connect, RECONNECT_MS);
    }
  }
}

function openEnvironment(env) {
  stopStream();
  state.environment = env;
  state.view = null;
  state.lastChange = undefined;
  history.replaceState(null, '', `#env=${encodeURIComponent(env)}`);
  $('changes').replaceChildren(h('li', { class: 'muted' }, 'Waiting for changes…'));
  const controller = new AbortController();
  state.stream = controller;
  follow(env, controller.signal);
}

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

/** Reads the event stream until aborted, reconnecting (with the last change's revision) when it drops. */
async function follow(env, signal) {
  while (!signal.aborted) {
    setLive('connecting', 'connecting…');
    try {
      const since = state.lastChange !== undefined ? `?since=${state.lastChange}` : '';
      const res = await api(`/v1/environments/${encodeURIComponent(env)}/events${since}`, { signal, headers: { Accept: 'text/event-stream' } });
      if (!res.ok || !res.body) throw new Error(`the event stream answered ${res.status}`);
      setLive('on', 'live');
      await readEvents(res.body, signal, (event, data) => {
        if (event === 'view') render(JSON.parse(data));
        else if (event === 'change') addChange(JSON.parse(data));
      });
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof AuthError) {
        sessionStorage.removeItem(TOKEN_KEY);
        state.token = '';
        return showLogin(err.message);
      }
    }
    if (signal.aborted) return;
    setLive('error', 'reconnecting…');
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}

/** A minimal text/event-stream parser: `event:` and `data:` lines, blank line ends an event. */
async function readEvents(body, signal, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data = [];
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}), { once: true });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (data.length > 0) onEvent(event, data.join('\n'));
        event = 'message';
        data = [];
      } else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
  }
}

function setLive(mode, text) {
  $('live').dataset.live = mode;
  $('live-text').textContent = text;
}

const STATE_LABEL = { up: 'up', lagging: 'lagging', stale: 'stale', draining: 'draining', unreachable: 'unreachable', down: 'down' };

function render(view) {
  state.view = view;
  $('revision').textContent = String(view.revision);
  $('revision').dataset.revision = String(view.revision);
  if (view.stale) setLive('error', 'registry lost etcd');
  else if ($('live').dataset.live !== 'on') setLive('on', 'live');
  renderSummary(view);
  renderMap(view);
  renderHistory(view.history);
  refreshAudit(view);
}

const AUDIT_SHOWN = 10;

/** The audit trail (GET …/history) is read again whenever the last commit changes. */
async function refreshAudit(view) {
  const env = state.environment;
  const latest = view.history.length ? view.history[0].revision : 0;
  if (state.auditFor === `${env}@${latest}`) return;
  state.auditFor = `${env}@${latest}`;
  try {
    const res = await api(`/v1/environments/${encodeURIComponent(env)}/history`);
    if (!res.ok || state.environment !== env) return;
    renderAudit((await res.json()).records.slice(0, AUDIT_SHOWN));
  } catch {
    state.auditFor = undefined;
  }
}

function renderAudit(records) {
  $('audit').replaceChildren(
    ...(records.length
      ? records.map((r) =>
          h(
            'li',
            { 'data-audit-id': r.id },
            h('div', { class: 'line' }, h('strong', {}, `#${r.id} ${r.operation}`), r.from ? ` from ${r.from}` : '', r.rollbackOf ? ` to #${r.rollbackOf}` : '', ' by ', h('strong', {}, r.by.name), ` (${r.by.role})`, h('span', { class: 'when', title: r.at }, ago(r.at))),
            h('div', { class: 'diff' }, h('span', { class: 'add' }, `+${r.summary.created}`), h('span', { class: 'upd' }, `~${r.summary.updated}`), h('span', { class: 'del' }, `−${r.summary.deleted}`), h('span', { class: 'muted', title: r.sourceHash }, `rev ${r.revision} · source ${r.sourceHash.slice(0, 8)}`)),
          ),
        )
      : [h('li', { class: 'muted' }, 'No record yet.')]),
  );
}

function renderSummary(view) {
  const gateways = view.regions.flatMap((r) => r.gateways);
  const up = gateways.filter((g) => g.state === 'up').length;
  const troubled = gateways.filter((g) => g.state !== 'up').length;
  const rps = gateways.reduce((n, g) => n + (g.requestRate || 0), 0);
  const eps = gateways.reduce((n, g) => n + (g.errorRate || 0), 0);
  const tile = (label, value, cls) => h('div', { class: `tile ${cls || ''}` }, h('div', { class: 'tile-value' }, value), h('div', { class: 'tile-label' }, label));
  $('summary').replaceChildren(
    tile('regions', view.regions.length),
    tile('gateways up', `${up} / ${gateways.length}`, troubled ? 'warn' : 'ok'),
    tile('services', view.services.length),
    tile('requests / s', rate(rps)),
    tile('5xx / s', rate(eps), eps > 0 ? 'bad' : ''),
    ...invalidRecords(view.invalidRecords || []),
  );
}

/** Keys skipped as invalid ("1 invalid record: /waymark/v1/prod/services/zz (deployments[0]: …)"); text nodes only. */
function invalidRecords(records) {
  if (records.length === 0) return [];
  const title = `${records.length} invalid record${records.length === 1 ? '' : 's'}`;
  return [h(
    'div',
    { class: 'tile bad invalid-records', 'data-invalid-records': String(records.length), title: 'skipped by the registry and the gateways; each keeps its last valid version, if any' },
    h('div', { class: 'tile-label' }, title),
    h('ul', { class: 'small' }, records.map((r) => h('li', {}, `${r.key} (${r.reason})`))),
  )];
}

/** Regions grouped by provider, then jurisdiction: a map of where traffic can go. */
function renderMap(view) {
  const providers = new Map();
  for (const r of view.regions) {
    const p = r.provider || 'unspecified provider';
    if (!providers.has(p)) providers.set(p, new Map());
    const byJurisdiction = providers.get(p);
    if (!byJurisdiction.has(r.jurisdiction)) byJurisdiction.set(r.jurisdiction, []);
    byJurisdiction.get(r.jurisdiction).push(r);
  }
  const columns = [...providers.keys()].sort().map((p) =>
    h(
      'section',
      { class: 'provider', 'data-provider': p },
      h('h2', { class: 'provider-name' }, p),
      [...providers.get(p).keys()].sort().map((j) =>
        h('div', { class: 'jurisdiction', 'data-jurisdiction': j }, h('h3', {}, h('span', { class: 'flag' }, j), ' jurisdiction'), providers.get(p).get(j).map(regionCard)),
      ),
    ),
  );
  $('map').replaceChildren(...(columns.length ? columns : [h('p', { class: 'muted' }, 'This environment has no region yet.')]));
}

function regionCard(r) {
  const worst = r.gateways.some((g) => g.state === 'down' || g.state === 'unreachable') ? 'bad' : r.gateways.some((g) => g.state !== 'up') ? 'warn' : r.gateways.length ? 'ok' : 'empty';
  return h(
    'article',
    { class: `region ${worst}`, 'data-region': r.name },
    h('header', {}, h('h4', {}, r.name), r.location ? h('span', { class: 'location' }, r.location) : null),
    r.gateways.length
      ? h('ul', { class: 'gateways' }, r.gateways.map(gatewayRow))
      : h('p', { class: 'muted small' }, 'no gateway registered'),
    h(
      'div',
      { class: 'services' },
      r.services.length ? r.services.map((s) => h('span', { class: `chip ${s.placement}`, title: s.placement === 'pinned' ? `pinned to ${(s.jurisdictions || []).join(', ')}` : s.placement }, s.name, s.placement === 'pinned' ? h('span', { class: 'pin' }, `pinned ${(s.jurisdictions || []).join(', ')}`) : null)) : h('span', { class: 'muted small' }, 'serves no service'),
    ),
  );
}

function gatewayRow(g) {
  const facts = [];
  if (g.state === 'down') facts.push(`left ${ago(g.since)}`);
  else {
    if (g.leaseTtlSeconds !== undefined) facts.push(g.leaseTtlSeconds >= 0 ? `lease ${g.leaseTtlSeconds}s` : 'lease gone');
    if (g.appliedRevision !== undefined) facts.push(`rev ${g.appliedRevision}`);
    if (g.lag !== undefined) facts.push(g.lag > 0 ? `lag ${g.lag}` : 'in sync');
  }
  const traffic = g.requestRate !== undefined ? `${rate(g.requestRate)} req/s · ${rate(g.errorRate || 0)} 5xx/s` : g.state === 'down' ? '' : 'traffic: measuring…';
  return h(
    'li',
    { class: `gateway ${g.state}`, 'data-gateway': `${g.region}/${g.id}`, 'data-state': g.state },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    h('span', { class: 'gw-id' }, g.id),
    h('span', { class: 'state' }, STATE_LABEL[g.state] || g.state),
    h('span', { class: 'facts' }, facts.join(' · ')),
    traffic ? h('span', { class: `traffic ${g.errorRate > 0 ? 'bad' : ''}` }, traffic) : null,
  );
}

function renderHistory(items) {
  $('history').replaceChildren(
    ...(items.length
      ? items.map((c) =>
          h(
            'li',
            { 'data-commit-revision': c.revision },
            h('div', { class: 'line' }, h('strong', {}, c.operation || 'apply'), c.from ? ` from ${c.from}` : '', ' by ', h('strong', {}, c.by || 'unknown'), h('span', { class: 'when', title: c.at }, ago(c.at))),
            h('div', { class: 'diff' }, h('span', { class: 'add' }, `+${c.summary.created}`), h('span', { class: 'upd' }, `~${c.summary.updated}`), h('span', { class: 'del' }, `−${c.summary.deleted}`), h('span', { class: 'muted' }, `rev ${c.revision}`)),
          ),
        )
      : [h('li', { class: 'muted' }, 'No apply recorded yet.')]),
  );
}

function addChange(c) {
  state.lastChange = c.revision;
  const list = $('changes');
  if (list.firstElementChild && list.firstElementChild.classList.contains('muted')) list.replaceChildren();
  const verb = { added: '+', updated: '~', removed: '−', committed: '✓' }[c.action] || '·';
  list.prepend(
    h(
      'li',
      { class: `change ${c.action}` },
      h('span', { class: 'verb' }, verb),
      c.kind === 'commit'
        ? h('span', {}, h('strong', {}, c.name), ' by ', h('strong', {}, c.by || 'unknown'), c.detail ? h('div', { class: 'muted small' }, c.detail) : null)
        : h('span', {}, h('strong', {}, `${c.kind} ${c.name}`), ` ${c.action}`, c.detail ? h('div', { class: 'muted small' }, c.detail) : null),
      h('span', { class: 'muted small when' }, `rev ${c.revision}`),
    ),
  );
  while (list.children.length > MAX_CHANGES) list.lastElementChild.remove();
}

function rate(n) {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function ago(iso) {
  const t = Date.parse(iso || '');
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return new Date(t).toLocaleDateString();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token-input').value.trim();
  if (!token) return;
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token-input').value = '';
  connect();
});
$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  showLogin('');
});
$('env-select').addEventListener('change', (e) => openEnvironment(e.target.value));

if (state.token) connect();
else showLogin('');
