// podwire's web UI: wiring. The map (map.js, layout.js) draws the model
// (model.js) built from the agent's graph and request records (source.js);
// the panel (panel.js) and the table view (table.js) list records. State
// the viewer chose lives in the URL's fragment, so a view can be shared.

import { DemoSource } from './demo.js';
import { Layout } from './layout.js';
import { MapView } from './map.js';
import { Filters, METRICS, buildModel, foldRequests, groupOf, requestMix, EXTERNAL, UNNAMED, REQUEST_LABELS, REQUEST_TYPES } from './model.js';
import { Panel } from './panel.js';
import { ApiSource } from './source.js';
import { TableView } from './table.js';
import { askToken } from './token.js';
import { $, h, fill, download, fmtBytes, fmtMs, fmtNum, fmtPct, fmtRate, stamp, toCSV } from './util.js';

const REQUEST_LIMIT = 5000; // newest records of each request type folded into edges
const MIN_REFRESH_MS = 2000; // live updates re-fetch at most this often
const IDLE_REFRESH_MS = 30000; // and this often without new records (open connections grow)
const REQUEST_REFRESH_MS = 15000; // request records, while edges are not sized by them
const REQUEST_METRICS = new Set(['rate', 'errors', 'latency']);

const query = new URLSearchParams(location.search);
const source = query.get('demo') === 'synthetic'
  ? new DemoSource({
    nodes: Number(query.get('nodes')) || 1000,
    edges: Number(query.get('edges')) || 5000,
    seed: Number(query.get('seed')) || 7,
  })
  : new ApiSource(askToken);

// --- state (in the URL fragment) -----------------------------------------------

const DEFAULTS = { level: 'workload', metric: 'connections', since: '', proto: '', include: '', exclude: '', hidden: '', collapsed: '', view: 'map' };
const state = {};
function readHash() {
  Object.assign(state, DEFAULTS);
  for (const [k, v] of new URLSearchParams(location.hash.slice(1))) if (k in DEFAULTS) state[k] = v;
}
readHash();
const listOf = (s) => (s ? s.split(',').filter(Boolean) : []);

function saveState() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v !== DEFAULTS[k]) p.set(k, v);
  const hash = p.toString();
  history.replaceState(null, '', hash ? '#' + hash : location.pathname + location.search);
}

// --- page parts -------------------------------------------------------------------

const canvas = $('#map');
const layout = new Layout();
let data = null; // {graph, requests (folded), reqKey, reqAt, windowSeconds, truncatedTypes}
let model = null;
let filters = new Filters();
let loading = false;
let pending = false;
let lastRefresh = -Infinity;
let refreshTimer = null;
let refreshes = 0;
let builds = 0;
let autoFit = true;
let liveState = source.live ? 'connecting' : 'off';

const map = new MapView(canvas, $('#tooltip'), {
  onSelect: select,
  onToggleGroup: toggleGroup,
  // No label for an edge without errors when sized by errors: the ones
  // that have some stand out.
  onLabel: (e) => (state.metric === 'errors' && !e.value ? '' : metricText(e.value)),
  onTooltip: tooltip,
  onSettled: () => {
    if (autoFit && !map.touched) map.fit();
    autoFit = false;
  },
});

const panel = new Panel($('#panel'), {
  source,
  model: () => model,
  query: () => ({ since: state.since, proto: state.proto }),
  onToggleGroup: toggleGroup,
  onClose: () => {
    select(null);
    canvas.focus();
  },
  onFocusNode: (id, andSelect) => {
    map.focus(id);
    if (andSelect) select({ type: 'node', id });
  },
});

const table = new TableView($('#table-view'), {
  source,
  query: () => ({ since: state.since, proto: state.proto }),
  filters: () => filters,
  level: () => (data ? data.graph.level : state.level),
});

// --- loading ------------------------------------------------------------------------

// `5m` -> 300 (the window's length, for request rates); '' -> null.
function sinceSeconds(s) {
  const m = /^(\d+)([smhd])$/.exec(s || '');
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]] : null;
}

async function refresh() {
  if (loading) {
    pending = true;
    return;
  }
  loading = true;
  const q = { since: state.since, proto: state.proto };
  try {
    // Request records are the heavier answer: re-read them on every update
    // only while edges are sized by them, else at most every 15 s (they
    // still fill tooltips and the panel's figures).
    const reqKey = JSON.stringify([state.level, q]);
    const needRequests = !data || data.reqKey !== reqKey || REQUEST_METRICS.has(state.metric) ||
      performance.now() - data.reqAt > REQUEST_REFRESH_MS;
    const [graph, ...pages] = await Promise.all([
      source.graph({ level: state.level, ...q }),
      ...REQUEST_TYPES.map((t) => (needRequests ? source.records(t, { ...q, limit: REQUEST_LIMIT }) : null)),
    ]);
    const requests = needRequests ? foldRequests(pages.flatMap((p) => p.records), graph.level) : data.requests;
    data = {
      graph,
      requests,
      reqKey,
      reqAt: needRequests ? performance.now() : data.reqAt,
      windowSeconds: sinceSeconds(state.since) || Math.max(1, requests.spanSeconds),
      // The types of which the agent holds more than were folded.
      truncatedTypes: needRequests ? REQUEST_TYPES.filter((t, i) => pages[i].next) : data.truncatedTypes,
    };
    banner(null);
    rebuild();
    if (panel.open) panel.refresh();
    if (state.view === 'table') table.refresh();
  } catch (e) {
    banner(`Could not load the service map: ${e.message}`);
  } finally {
    loading = false;
    lastRefresh = performance.now();
    refreshes++;
    status();
    if (pending) {
      pending = false;
      schedule();
    }
  }
}

// Re-fetches soon, but at most every MIN_REFRESH_MS.
function schedule() {
  if (refreshTimer) return;
  const wait = Math.max(0, lastRefresh + MIN_REFRESH_MS - performance.now());
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh();
  }, wait);
}

// The model from the data and the viewer's choices; the layout keeps every
// position it had, so filtering or an update never reshuffles the map.
function rebuild() {
  filters = new Filters({ include: state.include, exclude: state.exclude, hidden: listOf(state.hidden) });
  $('#include').setCustomValidity(filters.include?.error || '');
  $('#exclude').setCustomValidity(filters.exclude?.error || '');
  if (!data) return;
  model = buildModel(data, { filters, collapsed: new Set(listOf(state.collapsed)), metric: state.metric });
  builds++;
  layout.setModel(model);
  map.setModel(model, layout);
  if (autoFit && !map.touched) map.fit(null, false);
  renderGroups();
  legend();
  searchList();
  runSearch(false);
  status();
  panel.update();
  if (state.view === 'table') table.render();
}

// --- selection, groups, search ------------------------------------------------------

function select(item, how) {
  if (!item) {
    map.select(null);
    panel.hide();
    return;
  }
  map.select(item);
  panel.show(item, { focus: how === 'key-open' });
  const it = (item.type === 'node' ? model.nodes : model.edges).find((x) => x.id === item.id);
  if (it) announce(item.type === 'node' ? `Selected ${it.title}` : `Selected edge ${it.source} to ${it.target}`);
}

function toggleGroup(group) {
  const set = new Set(listOf(state.collapsed));
  const collapsing = !set.has(group);
  if (collapsing) set.add(group);
  else set.delete(group);
  state.collapsed = [...set].join(',');
  saveState();
  const t = panel.target;
  rebuild();
  // Keep the selection meaningful: a collapsed node's group stands for it.
  if (t && t.type === 'node' && collapsing && model.nodes.some((n) => n.id === 'group:' + group) &&
    !model.nodes.some((n) => n.id === t.id)) {
    select({ type: 'node', id: 'group:' + group });
  }
  announce(`${collapsing ? 'Collapsed' : 'Expanded'} ${group}`);
}

// The namespace list: show/hide and collapse per group.
function renderGroups() {
  const box = $('#group-list');
  const hidden = new Set(listOf(state.hidden));
  const collapsed = new Set(listOf(state.collapsed));
  const names = [...model.groups.keys()].sort((a, b) => {
    const special = (x) => (x === EXTERNAL || x === UNNAMED ? 1 : 0);
    return special(a) - special(b) || (a < b ? -1 : 1);
  });
  $('#groups-summary').textContent = `Namespaces (${names.length - hidden.size}/${names.length})`;
  // Unchanged: leave the list (and the focus in it) alone.
  const sig = JSON.stringify([names.map((n) => [n, model.groups.get(n).total]), [...hidden], [...collapsed]]);
  if (box.dataset.sig === sig) return;
  box.dataset.sig = sig;
  fill(box, ...names.map((name) => {
    const g = model.groups.get(name);
    return h('div', { class: 'group-row' },
      h('label', null,
        h('input', {
          type: 'checkbox', checked: !hidden.has(name), 'data-group': name,
          onchange: (ev) => {
            const set = new Set(listOf(state.hidden));
            if (ev.target.checked) set.delete(name);
            else set.add(name);
            state.hidden = [...set].join(',');
            saveState();
            rebuild();
            $(`#group-list input[data-group="${CSS.escape(name)}"]`)?.focus();
          },
        }),
        ` ${name} `, h('span', { class: 'muted' }, `(${fmtNum(g.total)})`)),
      // A toggle: pressed while the group is collapsed into one node.
      h('button', {
        type: 'button', class: 'small', 'aria-pressed': String(collapsed.has(name)), 'data-collapse': name,
        'aria-label': `Collapse ${name}`,
        onclick: () => {
          toggleGroup(name);
          $(`#group-list button[data-collapse="${CSS.escape(name)}"]`)?.focus();
        },
      }, 'Collapse'));
  }));
}

function setAllGroups(key, on) {
  state[key] = on ? [...model.groups.keys()].join(',') : '';
  saveState();
  rebuild();
}

// Search: every node whose id or name contains the text is ringed; one
// hidden in a collapsed group rings its group. Enter goes to the next hit.
let searchAt = -1;
function searchHits() {
  const text = $('#search').value.trim().toLowerCase();
  if (!text || !model) return [];
  const hits = [];
  for (const n of model.nodes) {
    if (n.kind === 'group') {
      for (const id of n.members) {
        const r = model.raw.get(id);
        if (id.toLowerCase().includes(text) || r.title.toLowerCase().includes(text)) hits.push({ id: n.id, member: id, group: n.group });
      }
    } else if (n.id.toLowerCase().includes(text) || n.title.toLowerCase().includes(text)) {
      hits.push({ id: n.id });
    }
  }
  return hits;
}

function runSearch(announceIt) {
  const hits = searchHits();
  map.setMatches(new Set(hits.map((x) => x.id)));
  const text = $('#search').value.trim();
  $('#search-count').textContent = text ? `${hits.length} found` : '';
  if (announceIt && text) announce(`${hits.length} nodes match`);
  return hits;
}

function searchNext() {
  const hits = runSearch(false);
  if (!hits.length) return;
  searchAt = (searchAt + 1) % hits.length;
  const hit = hits[searchAt];
  if (hit.member) {
    // Open the group to show the node itself.
    toggleGroup(hit.group);
    select({ type: 'node', id: hit.member });
    map.focus(hit.member);
  } else {
    select({ type: 'node', id: hit.id });
    map.focus(hit.id);
  }
  runSearch(false);
}

// The search box's suggestions: the names on the map.
let suggested = '';
function searchList() {
  const names = [...new Set(model.nodes.filter((n) => n.kind !== 'group').map((n) => n.title))].sort().slice(0, 2000);
  const sig = names.join('\u0000');
  if (sig === suggested) return;
  suggested = sig;
  fill($('#node-names'), ...names.map((n) => h('option', { value: n })));
}

// --- text --------------------------------------------------------------------------------

function metricText(v, metric = state.metric) {
  if (v === null || v === undefined) return '';
  switch (metric) {
    case 'bytes': return fmtBytes(v);
    case 'rate': return fmtRate(v);
    case 'errors': return fmtPct(v);
    case 'latency': return fmtMs(v);
    default: return fmtNum(v);
  }
}

function tooltip(item) {
  if (!model) return null;
  if (item.type === 'node') {
    const n = model.nodes.find((x) => x.id === item.id);
    if (!n) return null;
    const conns = (s) => `${fmtNum(s.connections)} conn, ${fmtBytes(s.client_bytes + s.server_bytes)}`;
    return [
      n.kind === 'group' ? `${n.title} (${n.members.length} nodes, collapsed)` : n.title,
      n.kind === 'group' ? 'double-click or c to expand' : `${n.subtitle} · ${n.group}`,
      `in: ${conns(n.inbound)}`, `out: ${conns(n.outbound)}`,
      n.req.requests ? `requests in: ${fmtNum(n.req.requests)}, ${fmtPct(n.req.errors / n.req.requests)} errors (${requestMix(n.req)})` : null,
    ].filter(Boolean);
  }
  const e = model.edges.find((x) => x.id === item.id);
  if (!e) return null;
  const title = (id) => model.nodes.find((n) => n.id === id)?.title ?? id;
  return [
    `${title(e.source)} → ${title(e.target)}`,
    `${METRICS[state.metric].label}: ${metricText(e.value) || '–'}`,
    `${fmtNum(e.stats.connections)} connections (${e.protocols.join(', ')})`,
    `${fmtBytes(e.stats.client_bytes)} → · ${fmtBytes(e.stats.server_bytes)} ←`,
    e.req.requests ? `${fmtNum(e.req.requests)} requests, ${fmtPct(e.req.errors / e.req.requests)} errors` : null,
    e.req.requests ? requestMix(e.req) : null,
  ].filter(Boolean);
}

function legend() {
  const m = METRICS[state.metric];
  const req = REQUEST_METRICS.has(state.metric);
  fill($('#legend'), ...[
    h('div', null, h('span', { class: 'sw circle' }), ' workload / pod / address  ',
      h('span', { class: 'sw diamond' }), ' external domain  ', h('span', { class: 'sw ring' }), ' collapsed namespace'),
    h('div', null, `Edges: client → server; width: ${m.label.toLowerCase()} (${m.unit})`),
    req ? h('div', { class: 'muted' }, `From the newest ${fmtNum(data.requests.count)} request records${truncatedText()}; edges without requests are thin.`) : null,
  ].filter(Boolean));
}

// " (the agent holds more HTTP, Redis)": which folds were cut at REQUEST_LIMIT.
function truncatedText() {
  const t = data.truncatedTypes;
  return t.length ? ` (the agent holds more ${t.map((x) => REQUEST_LABELS[x]).join(', ')})` : '';
}

function status() {
  const parts = [];
  if (model) {
    parts.push(`${fmtNum(model.nodes.length)} nodes, ${fmtNum(model.edges.length)} edges`);
    if (model.nodes.length !== model.raw.size) parts.push(`of ${fmtNum(model.raw.size)} nodes`);
  }
  if (source instanceof DemoSource) parts.push('synthetic demo data');
  if (source.captureEnd) parts.push(`capture file, ending ${source.captureEnd.replace(/\.\d+Z$/, 'Z')}`);
  else parts.push({ live: 'live', retrying: 'live updates reconnecting…', paused: 'paused', connecting: 'connecting…', closed: 'live updates closed', off: 'static' }[liveState]);
  if (loading) parts.push('loading…');
  $('#status').textContent = parts.join(' · ');
}

function banner(text) {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text || '';
}

function announce(text) {
  $('#announce').textContent = text;
}

// --- export ------------------------------------------------------------------------

function exportShown(kind) {
  if (state.view === 'table') {
    const d = table.exportData();
    if (kind === 'csv') download(`podwire-${d.name}-${stamp()}.csv`, new Blob([toCSV(d.header, d.rows)], { type: 'text/csv' }));
    else download(`podwire-${d.name}-${stamp()}.json`, new Blob([JSON.stringify(d.records, null, 1)], { type: 'application/json' }));
    return;
  }
  if (!model) return;
  const m = exportModel();
  if (kind === 'json') {
    download(`podwire-map-${stamp()}.json`, new Blob([JSON.stringify(m, null, 1)], { type: 'application/json' }));
    return;
  }
  const header = ['source', 'target', 'protocols', 'connections', 'open', 'persistent', 'client_bytes', 'server_bytes',
    'duration_seconds_sum', 'duration_seconds_max', 'retransmits', 'requests', 'errors', 'latency_ms_mean', state.metric];
  const rows = m.edges.map((e) => [e.source, e.target, e.protocols.join(' '), e.stats.connections, e.stats.open, e.stats.persistent,
    e.stats.client_bytes, e.stats.server_bytes, e.stats.duration_seconds_sum, e.stats.duration_seconds_max, e.stats.retransmits,
    e.requests.requests, e.requests.errors, e.requests.latency_ms_mean, e.value]);
  download(`podwire-map-${stamp()}.csv`, new Blob([toCSV(header, rows)], { type: 'text/csv' }));
}

// The visible model as plain data: what export writes and tests read.
function exportModel() {
  return {
    level: model.level,
    metric: model.metric,
    window_seconds: model.windowSeconds,
    nodes: model.nodes.map((n) => ({
      id: n.id, title: n.title, subtitle: n.subtitle, namespace: n.namespace ?? null, group: n.group, kind: n.kind,
      members: n.members, inbound: n.inbound, outbound: n.outbound,
    })),
    edges: model.edges.map((e) => ({
      id: e.id, source: e.source, target: e.target, protocols: e.protocols, stats: e.stats, value: e.value, label: metricText(e.value),
      requests: {
        requests: e.req.requests,
        ...Object.fromEntries(REQUEST_TYPES.map((t) => [t, e.req[t]])),
        errors: e.req.errors,
        latency_ms_mean: e.req.latency_n ? e.req.latency_sum / e.req.latency_n : null,
      },
    })),
  };
}

// --- live updates ------------------------------------------------------------------------

let closeStream = null;
function setLive(on) {
  const btn = $('#live');
  btn.setAttribute('aria-pressed', String(on));
  if (!source.live) {
    btn.disabled = true;
    // A capture file has nothing to follow.
    btn.hidden = !!source.captureEnd;
    return;
  }
  if (on && !closeStream) {
    liveState = 'connecting';
    closeStream = source.stream(() => schedule(), (s) => {
      liveState = s;
      status();
    });
    schedule();
  } else if (!on && closeStream) {
    closeStream();
    closeStream = null;
    liveState = 'paused';
  }
  status();
}
setInterval(() => {
  if (closeStream) schedule();
}, IDLE_REFRESH_MS);

// --- theme -------------------------------------------------------------------------------

const THEMES = ['auto', 'light', 'dark'];
function applyTheme(t) {
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  $('#theme').textContent = `Theme: ${t}`;
  map.readColors();
}
let theme = THEMES.includes(localStorage.getItem('podwire-theme')) ? localStorage.getItem('podwire-theme') : 'auto';
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => map.readColors());

// --- controls ------------------------------------------------------------------------------

// A link with another fragment opened in this page (or edited by hand).
function applyHash() {
  const level = state.level;
  readHash();
  for (const id of ['level', 'metric', 'since', 'proto', 'include', 'exclude']) $('#' + id).value = state[id];
  if (state.level !== level) {
    layout.reset();
    autoFit = true;
    map.touched = false;
    select(null);
  }
  showView(state.view === 'table' ? 'table' : 'map');
  refresh();
}

function showView(v) {
  state.view = v;
  saveState();
  for (const b of document.querySelectorAll('#views [role=tab]')) {
    const on = b.dataset.view === v;
    b.setAttribute('aria-selected', String(on));
    b.tabIndex = on ? 0 : -1;
  }
  $('#map-view').hidden = v !== 'map';
  $('#table-view').hidden = v !== 'table';
  document.body.dataset.view = v;
  if (v === 'table') table.load(true);
  else map.resize();
}

async function init() {
  if (source.detect) await source.detect();
  if (source.captureEnd) {
    liveState = 'off';
    $('#since').title = 'Counted back from the end of the capture';
  }
  for (const [k, m] of Object.entries(METRICS)) $('#metric').append(h('option', { value: k }, m.label));
  for (const id of ['level', 'metric', 'since', 'proto']) {
    const el = $('#' + id);
    el.value = state[id];
    el.addEventListener('change', () => {
      state[id] = el.value;
      saveState();
      if (id === 'metric') {
        rebuild();
        // Sized by requests from now on: make them current.
        if (data && REQUEST_METRICS.has(state.metric) && performance.now() - data.reqAt > MIN_REFRESH_MS) schedule();
        return;
      }
      if (id === 'level') {
        // Other ids: a new layout, fitted once it settles.
        layout.reset();
        autoFit = true;
        map.touched = false;
        select(null);
      }
      refresh();
    });
  }
  for (const id of ['include', 'exclude']) {
    const el = $('#' + id);
    el.value = state[id];
    let timer = null;
    el.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        state[id] = el.value;
        saveState();
        rebuild();
      }, 200);
    });
  }
  $('#controls').addEventListener('submit', (ev) => ev.preventDefault());
  $('#search').addEventListener('input', () => {
    searchAt = -1;
    runSearch(true);
  });
  $('#search').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      searchNext();
    }
  });
  $('#show-all').addEventListener('click', () => setAllGroups('hidden', false));
  $('#hide-all').addEventListener('click', () => setAllGroups('hidden', true));
  $('#collapse-all').addEventListener('click', () => setAllGroups('collapsed', true));
  $('#expand-all').addEventListener('click', () => setAllGroups('collapsed', false));
  $('#fit').addEventListener('click', () => map.fit());
  $('#relayout').addEventListener('click', () => {
    layout.reset();
    autoFit = true;
    map.touched = false;
    rebuild();
  });
  $('#export-csv').addEventListener('click', () => exportShown('csv'));
  $('#export-json').addEventListener('click', () => exportShown('json'));
  $('#live').addEventListener('click', () => setLive(!closeStream));
  $('#theme').addEventListener('click', () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    localStorage.setItem('podwire-theme', theme);
    applyTheme(theme);
  });
  const tabs = [...document.querySelectorAll('#views [role=tab]')];
  for (const b of tabs) b.addEventListener('click', () => showView(b.dataset.view));
  $('#views').addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
    const dir = ev.key === 'ArrowRight' ? 1 : tabs.length - 1;
    const next = tabs[(tabs.indexOf(document.activeElement) + dir) % tabs.length];
    next.focus();
    next.click();
  });
  window.addEventListener('hashchange', applyHash);
  applyTheme(theme);
  showView(state.view === 'table' ? 'table' : 'map');
  setLive(source.live);
  refresh();
}

// For tests and scripting: the rendered model and where things are drawn,
// so a test can compare with the API and click what it sees.
window.__podwire = {
  ready: () => !!model && !loading && !layout.running,
  model: () => (model ? exportModel() : null),
  point: (id) => map.clientPoint(id),
  view: () => ({ ...map.view }),
  refresh: () => refresh(),
  drawMs: () => map.drawMs,
  draws: () => map.draws,
  redraw: () => map.requestDraw(),
  hit: (x, y) => {
    const r = canvas.getBoundingClientRect();
    return map.hit(x - r.left, y - r.top);
  },
  pixel: (x, y) => [...map.ctx.getImageData(x, y, 1, 1).data],
  panel: () => panel.state(),
  table: () => ({ table: table.table, loading: !!table.loading, records: table.lastShown || [] }),
  refreshes: () => refreshes,
  builds: () => builds,
  live: () => liveState,
  captureEnd: () => source.captureEnd,
  groupOf,
};

init();
