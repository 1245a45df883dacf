// The details panel of a node or an edge: its figures, its records (newest
// first, filterable; a tab per record type it has) and, for a node, a
// packet capture.
//
// Records are asked for with the narrowest filter the API has for the
// node(s) (pod, workload, domain, address...) and then kept only when their
// endpoints name the clicked node or edge exactly (model.js `nodeInfo`,
// the server's own naming), so the list is exactly the node's or edge's.

import { TABLES, cellText, rowText, shownCols } from './columns.js';
import { nodeInfo, p95, requestMix, EXTERNAL, UNNAMED, REQUEST_TYPES } from './model.js';
import { recordTable, tabList } from './table.js';
import { h, clear, fill, download, fmtBytes, fmtMs, fmtNum, fmtPct, fmtRate, fmtTime, stamp } from './util.js';

const PAGE = 500;
// Columns that name the connection rather than the request (see renderList).
const IDENTITY = new Set(['client', 'server', 'version', 'host', 'database', 'user', 'client_id']);
const AUTO_PAGES = 4; // pages fetched by themselves while few records match

// The API filter that narrows records to one model node (server side).
function narrow(n) {
  switch (n.kind) {
    case 'namespace': return { namespace: n.namespace ?? n.id };
    case 'workload': {
      const rest = n.id.slice(n.namespace.length + 1);
      return n.subtitle === 'Service' ? { namespace: n.namespace, service: rest } : { namespace: n.namespace, workload: rest };
    }
    case 'pod': return { namespace: n.namespace, pod: n.title };
    case 'process': return { ip: n.subtitle, process: n.title };
    case 'domain': return { domain: n.id };
    case 'node': return { node: n.title };
    case 'address': return { ip: n.id };
    case 'group': return n.group === EXTERNAL || n.group === UNNAMED ? {} : { namespace: n.group };
    default: return {};
  }
}

// For an edge: addresses become client_ip/server_ip; identity keys (which
// the API matches on either end) are taken from one end only.
function narrowEdge(src, dst) {
  const a = narrow(src);
  const b = narrow(dst);
  const out = {};
  if (a.ip && Object.keys(a).length === 1) out.client_ip = a.ip;
  if (b.ip && Object.keys(b).length === 1) out.server_ip = b.ip;
  const identity = (x) => !(x.ip && Object.keys(x).length === 1) && Object.keys(x).length > 0;
  if (identity(b)) Object.assign(out, b);
  else if (identity(a)) Object.assign(out, a);
  return out;
}

let rememberedToken = ''; // in memory only: never stored by the page

// The request type with the most records in `q` (the first listed on a tie).
function busiest(q) {
  return REQUEST_TYPES.reduce((best, t) => (q[t] > q[best] ? t : best), REQUEST_TYPES[0]);
}

export class Panel {
  // app: {source, model(), query(), onToggleGroup(group), onClose(), onFocusNode(id)}
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.target = null;
    this.tab = 'connections';
    this.text = '';
    this.records = [];
    this.next = null;
    this.capture = null;
    root.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        this.app.onClose();
      }
    });
  }

  get open() {
    return !!this.target;
  }

  // target: {type: 'node'|'edge', id}
  show(target, { focus = false } = {}) {
    const same = this.target && this.target.id === target.id && this.target.type === target.type;
    this.target = target;
    if (!same) {
      const item = this.item();
      // An edge that carried requests opens on its busiest protocol's;
      // anything else on its connections.
      this.tab = target.type === 'edge' && item && item.req.requests ? busiest(item.req) : 'connections';
      this.text = '';
      this.records = [];
      this.next = null;
    }
    this.root.hidden = false;
    this.render();
    if (this.item()) this.load(true);
    if (focus) this.root.querySelector('h2').focus();
  }

  hide() {
    this.target = null;
    this.root.hidden = true;
    clear(this.root);
  }

  // The model's node or edge, or null when it is gone from the map.
  item() {
    const m = this.app.model();
    if (!m || !this.target) return null;
    const list = this.target.type === 'node' ? m.nodes : m.edges;
    return list.find((x) => x.id === this.target.id) || null;
  }

  // The model changed (filters, metric): new figures, same list.
  update() {
    if (!this.target) return;
    if (!this.item()) {
      this.renderGone();
      return;
    }
    if (!this.summary || !this.root.contains(this.summary)) this.render();
    else {
      this.renderSummary();
      this.renderTabs();
    }
  }

  // New data arrived (live): new figures, and the list reloaded.
  refresh() {
    this.update();
    if (this.item()) this.load(true);
  }

  // --- records ---------------------------------------------------------------

  // Which records belong to the target, by their endpoints' node ids.
  matcher() {
    const m = this.app.model();
    const it = this.item();
    if (!m || !it) return () => false;
    const level = m.level;
    const members = (id) => new Set((m.nodes.find((n) => n.id === id) || { members: [id] }).members);
    if (this.target.type === 'node') {
      const set = new Set(it.members);
      return (r) => set.has(nodeInfo(r.client, level).id) || set.has(nodeInfo(r.server, level).id);
    }
    const src = members(it.source);
    const dst = members(it.target);
    return (r) => src.has(nodeInfo(r.client, level).id) && dst.has(nodeInfo(r.server, level).id);
  }

  params() {
    const m = this.app.model();
    const it = this.item();
    const q = this.app.query();
    const base = { since: q.since, proto: q.proto, limit: PAGE };
    if (!it) return base;
    if (this.target.type === 'node') return { ...base, ...narrow(it) };
    const byId = (id) => m.nodes.find((n) => n.id === id);
    return { ...base, ...narrowEdge(byId(it.source), byId(it.target)) };
  }

  async load(reset) {
    const token = {};
    this.loading = token;
    const keep = this.matcher();
    const params = this.params();
    let records = reset ? [] : this.records;
    let next = reset ? null : this.next;
    this.renderList();
    try {
      for (let page = 0; page < (reset ? AUTO_PAGES : 1); page++) {
        const got = await this.app.source.records(this.tab, next ? { ...params, after: next } : params);
        if (this.loading !== token) return; // a newer load took over
        records = records.concat(got.records.filter(keep));
        next = got.next;
        if (!next || records.length >= 50) break;
      }
      this.error = null;
    } catch (e) {
      if (this.loading !== token) return;
      this.error = e.message;
    }
    this.records = records;
    this.next = next;
    this.loading = null;
    this.renderList();
  }

  shown() {
    const cols = TABLES[this.tab].cols;
    return this.text ? this.records.filter((r) => rowText(cols, r).includes(this.text)) : this.records;
  }

  // --- rendering -------------------------------------------------------------

  render() {
    const it = this.item();
    if (!it) return this.renderGone();
    const t = this.target;
    const m = this.app.model();
    const title = t.type === 'node'
      ? it.title
      : `${m.nodes.find((n) => n.id === it.source)?.title ?? it.source} → ${m.nodes.find((n) => n.id === it.target)?.title ?? it.target}`;
    const close = h('button', { type: 'button', class: 'close', 'aria-label': 'Close details', onclick: () => this.app.onClose() }, '×');
    this.summary = h('div', { class: 'summary' });
    this.list = h('div', { class: 'list' });
    this.tabsBox = h('div');
    this.filterBox = h('input', {
      type: 'search', placeholder: 'Filter these records', 'aria-label': 'Filter these records', value: this.text,
      oninput: () => {
        this.text = this.filterBox.value.trim().toLowerCase();
        this.renderList();
      },
    });
    fill(this.root,
      h('div', { class: 'panel-head' },
        h('h2', { tabindex: '-1', id: 'panel-title' }, title),
        close),
      this.summary,
      h('h3', null, 'Records'),
      this.tabsBox,
      h('div', { class: 'list-bar' }, this.filterBox),
      this.list,
      // Capture files (`read --serve`) have no packets to capture.
      t.type === 'node' && it.kind !== 'group' && it.kind !== 'domain' && this.app.source.capturesPackets !== false
        ? this.captureForm(it) : null,
    );
    this.renderSummary();
    this.renderTabs();
    this.renderList();
  }

  renderGone() {
    fill(this.root,
      h('div', { class: 'panel-head' }, h('h2', { tabindex: '-1' }, 'Gone from the map'),
        h('button', { type: 'button', class: 'close', 'aria-label': 'Close details', onclick: () => this.app.onClose() }, '×')),
      h('p', null, 'The filters or the latest update no longer show this item.'));
  }

  // Connections and TLS always; a request protocol when the item has
  // records of it among those folded into the map, or when that fold was cut
  // short (older records may be the item's), or when it is the tab shown.
  tabNames() {
    const it = this.item();
    const m = this.app.model();
    const has = (t) => it && (it.req[t] > 0 || (it.reqOut && it.reqOut[t] > 0));
    const cut = new Set(m ? m.truncatedTypes : []);
    const types = REQUEST_TYPES.filter((t) => t === this.tab || has(t) || cut.has(t));
    return ['connections', 'tls', ...types].map((k) => [k, TABLES[k].label]);
  }

  renderTabs() {
    const names = this.tabNames();
    // Unchanged (a live update): leave the tabs (and the focus on one) alone.
    const sig = JSON.stringify([names, this.tab]);
    if (this.tabsBox.firstChild && this.tabsBox.dataset.sig === sig) return;
    this.tabsBox.dataset.sig = sig;
    fill(this.tabsBox, tabList(names, this.tab, 'Records of the selection', (k) => {
      if (k === this.tab) return;
      this.tab = k;
      this.records = [];
      this.next = null;
      this.renderTabs();
      this.tabsBox.querySelector(`[data-tab="${k}"]`).focus();
      this.load(true);
    }));
  }

  renderSummary() {
    const it = this.item();
    const m = this.app.model();
    if (!it || !this.summary) return;
    const dl = (pairs) => h('dl', null, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
    const reqRows = (q, label) => q.requests
      ? [
        [`${label}`, `${fmtNum(q.requests)} (${fmtRate(q.requests / m.windowSeconds)})`],
        ['Errors', `${fmtNum(q.errors)} (${fmtPct(q.errors / q.requests)})`],
        ['Latency', q.latency_n ? `${fmtMs(q.latency_sum / q.latency_n)} mean, ${fmtMs(p95(q.latencies))} p95` : '–'],
        ['By protocol', requestMix(q)],
      ]
      : [[label, '0']];
    const kids = [];
    if (this.target.type === 'node') {
      const kind = { group: 'collapsed group', pod: 'pod', workload: it.subtitle, namespace: 'namespace', domain: 'external domain', process: 'process', node: 'host', address: 'address' }[it.kind];
      kids.push(h('p', { class: 'sub' }, [kind, it.kind === 'pod' || it.kind === 'process' ? it.subtitle : null, it.group].filter(Boolean).join(' · ')));
      const side = (s) => [
        ['Connections', `${fmtNum(s.connections)} (${fmtNum(s.open)} open)`],
        ['Bytes sent / received', `${fmtBytes(s.client_bytes)} / ${fmtBytes(s.server_bytes)}`],
        ['Duration', s.connections ? `${fmtMs((s.duration_seconds_sum / s.connections) * 1000)} mean, ${fmtMs(s.duration_seconds_max * 1000)} max` : '–'],
        ['Retransmits', fmtNum(s.retransmits)],
      ];
      kids.push(h('div', { class: 'sides' },
        h('section', null, h('h3', null, 'As server (in)'), dl([...side(it.inbound), ...reqRows(it.req, 'Requests')])),
        h('section', null, h('h3', null, 'As client (out)'), dl([...side(it.outbound), ...reqRows(it.reqOut, 'Requests')]))));
      const actions = [];
      if (it.kind === 'group') {
        kids.push(h('p', null, `${fmtNum(it.members.length)} nodes collapsed into one.`));
        actions.push(h('button', { type: 'button', onclick: () => this.app.onToggleGroup(it.group) }, `Expand ${it.group}`));
      } else {
        actions.push(h('button', { type: 'button', onclick: () => this.app.onToggleGroup(it.group) }, `Collapse ${it.group}`));
      }
      actions.push(h('button', { type: 'button', onclick: () => this.app.onFocusNode(it.id) }, 'Zoom to'));
      kids.push(h('div', { class: 'actions' }, actions));
    } else {
      const s = it.stats;
      const end = (id) => h('button', { type: 'button', class: 'link', onclick: () => this.app.onFocusNode(id, true) },
        m.nodes.find((n) => n.id === id)?.title ?? id);
      kids.push(h('p', { class: 'sub' }, 'client ', end(it.source), ' → server ', end(it.target)));
      kids.push(dl([
        ['Protocols', it.protocols.join(', ')],
        ['Connections', `${fmtNum(s.connections)} (${fmtNum(s.open)} open, ${fmtNum(s.persistent)} persistent)`],
        ['Bytes → / ←', `${fmtBytes(s.client_bytes)} / ${fmtBytes(s.server_bytes)}`],
        ['Duration', s.connections ? `${fmtMs((s.duration_seconds_sum / s.connections) * 1000)} mean, ${fmtMs(s.duration_seconds_max * 1000)} max` : '–'],
        ['Retransmits', fmtNum(s.retransmits)],
        ['Last seen', s.last_seen_ms ? fmtTime(s.last_seen_ms) : '–'],
        ...reqRows(it.req, 'Requests'),
      ]));
    }
    fill(this.summary, ...kids);
  }

  renderList() {
    if (!this.list) return;
    const rows = this.shown();
    // A column of the connection's identity that says the same on every row
    // is left out: the client or server (an edge's server, say) is in the
    // panel's title already, the others (HTTP host and version, database,
    // user, Kafka client id) are said once above the list, which leaves the panel's width to the
    // figures and statements.
    const same = (c) => IDENTITY.has(c.key) && rows.length > 1 && rows.every((r) => c.value(r) === c.value(rows[0]));
    const all = shownCols(TABLES[this.tab].cols, rows);
    const cols = all.filter((c) => !same(c));
    const once = all.filter((c) => same(c) && c.key !== 'client' && c.key !== 'server' && c.value(rows[0]) != null)
      .map((c) => `${c.label.toLowerCase()} ${cellText(c, c.value(rows[0]))}`).join(' · ');
    this.shownRecords = rows;
    const status = this.error
      ? h('p', { class: 'error', role: 'alert' }, this.error)
      : h('p', { class: 'count', 'aria-live': 'polite' },
        this.loading && !this.records.length ? 'Loading…'
          : `${fmtNum(rows.length)} ${TABLES[this.tab].label} records${this.text ? ` matching (of ${fmtNum(this.records.length)})` : ''}, newest first`);
    const more = this.next ? h('button', { type: 'button', onclick: () => this.load(false) }, 'Load more') : null;
    fill(this.list, status, once ? h('p', { class: 'sub' }, `Every record: ${once}`) : null, rows.length ? h('div', { class: 'table-wrap' }, recordTable(cols, rows, { caption: `${TABLES[this.tab].label} records of the selection` })) : null, more);
  }

  // --- capture ---------------------------------------------------------------

  captureForm(node) {
    const pod = node.kind === 'pod';
    const field = (label, input, hint) => h('label', null, h('span', null, label), input, hint ? h('small', null, hint) : null);
    const ns = h('input', { name: 'namespace', value: pod ? node.namespace : '', autocomplete: 'off' });
    const name = h('input', { name: 'pod', value: pod ? node.title : '', autocomplete: 'off' });
    const iface = h('input', { name: 'interface', autocomplete: 'off', placeholder: 'eth0' });
    const token = h('input', { name: 'token', type: 'password', autocomplete: 'off', required: true, value: rememberedToken });
    const duration = h('input', { name: 'duration', value: '30s', autocomplete: 'off' });
    const filter = h('input', { name: 'filter', autocomplete: 'off', placeholder: pod || node.kind === 'node' ? 'tcp port 443' : `host ${node.subtitle}` });
    const status = h('p', { class: 'capture-status', role: 'status' });
    const go = h('button', { type: 'submit' }, 'Capture packets');
    const stop = h('button', { type: 'button', hidden: true }, 'Stop and save');
    const form = h('form', { class: 'capture', 'aria-label': 'Packet capture' },
      h('h3', null, 'Capture packets'),
      h('p', { class: 'hint' }, pod
        ? 'The agent on the pod\u2019s node captures its packets as pcapng.'
        : 'Not a pod: name one, or an interface of the agent\u2019s host (a filter narrows it to this node).'),
      h('div', { class: 'grid' },
        field('Namespace', ns), field('Pod', name), field('or interface', iface),
        field('Token', token, 'Sent as Authorization: Bearer; kept in memory only'),
        field('Duration', duration, '30s, 5m'), field('Filter', filter, 'tcpdump syntax')),
      h('div', { class: 'actions' }, go, stop), status);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      rememberedToken = token.value;
      const params = { duration: duration.value.trim(), filter: filter.value.trim() };
      if (iface.value.trim()) params.interface = iface.value.trim();
      else Object.assign(params, { namespace: ns.value.trim(), pod: name.value.trim() });
      const what = params.interface || `${params.namespace}/${params.pod}`;
      const ctl = new AbortController();
      this.capture = ctl;
      go.disabled = true;
      stop.hidden = false;
      stop.onclick = () => ctl.abort();
      status.className = 'capture-status';
      status.textContent = `Capturing ${what}…`;
      try {
        const { blob } = await this.app.source.capture(params, token.value, ctl.signal, (n) => {
          status.textContent = `Capturing ${what}… ${fmtBytes(n)}`;
        });
        const file = `podwire-${what.replace(/[^A-Za-z0-9._-]+/g, '_')}-${stamp()}.pcapng`;
        download(file, blob);
        status.textContent = `Saved ${file} (${fmtBytes(blob.size)}).`;
      } catch (e) {
        status.className = 'capture-status error';
        status.setAttribute('role', 'alert');
        status.textContent = ctl.signal.aborted ? 'Stopped before the agent answered.' : `Capture refused: ${e.message}`;
      } finally {
        go.disabled = false;
        stop.hidden = true;
        this.capture = null;
      }
    });
    return form;
  }

  // For tests and the page's own export: what the list shows.
  state() {
    return {
      target: this.target,
      tab: this.tab,
      loading: !!this.loading,
      error: this.error || null,
      records: this.shownRecords || [],
    };
  }
}
