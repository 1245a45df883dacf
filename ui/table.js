// Record tables: one renderer for the details panel and the table view, and
// the table view itself (connections, TLS, HTTP, DNS and the request
// protocols under the map's filters, sortable, searchable, exported exactly
// as shown).

import { TABLES, cellText, rowText, shownCols } from './columns.js';
import { h, fill, fmtNum } from './util.js';

// A <table> of `records` with `cols`. `sort` ({key, dir}) and `onSort(key)`
// make the headers buttons (keyboard reachable) that sort by that column.
export function recordTable(cols, records, { sort, onSort, caption } = {}) {
  const head = cols.map((c) => {
    const dir = sort && sort.key === c.key ? sort.dir : null;
    const label = c.label + (dir ? (dir > 0 ? ' ▲' : ' ▼') : '');
    return h('th', { scope: 'col', class: c.num ? 'num' : null, 'aria-sort': dir ? (dir > 0 ? 'ascending' : 'descending') : null },
      onSort ? h('button', { type: 'button', class: 'sort', onclick: () => onSort(c.key) }, label) : label);
  });
  const rows = records.map((r) => h('tr', null, cols.map((c) => {
    const v = c.value(r);
    const warn = c.warn && c.warn(v);
    return h('td', { class: [c.num ? 'num' : '', warn ? 'warn' : ''].join(' ').trim() || null, 'data-col': c.key }, cellText(c, v));
  })));
  return h('table', { class: 'records' }, caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', null, h('tr', null, head)), h('tbody', null, rows));
}

// Sorts a copy by one column (stable; nulls last).
export function sortRecords(cols, records, sort) {
  if (!sort) return records;
  const col = cols.find((c) => c.key === sort.key);
  if (!col) return records;
  return records
    .map((r, i) => [col.value(r), i, r])
    .sort((a, b) => {
      const [x, y] = [a[0], b[0]];
      if (x === y) return a[1] - b[1];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sort.dir;
    })
    .map((t) => t[2]);
}

// Tabs with arrow-key movement between them (the ARIA tabs pattern).
export function tabList(names, current, label, onPick) {
  const buttons = names.map(([key, text]) => h('button', {
    type: 'button', role: 'tab', id: `tab-${label}-${key}`, 'aria-selected': String(key === current),
    tabindex: key === current ? '0' : '-1', 'data-tab': key, onclick: () => onPick(key),
  }, text));
  const list = h('div', { role: 'tablist', 'aria-label': label, class: 'tabs' }, buttons);
  list.addEventListener('keydown', (ev) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0 || (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft')) return;
    ev.preventDefault();
    const next = buttons[(at + (ev.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length];
    next.focus();
    next.click();
  });
  return list;
}

export class TableView {
  // app: {source, query() -> {since, proto}, filters(), level(), onChange()}
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.table = 'connections';
    this.records = [];
    this.next = null;
    this.text = '';
    this.sort = null;
    this.loading = false;
    this.error = null;
    this.build();
  }

  build() {
    this.tabs = h('div');
    this.search = h('input', {
      type: 'search', id: 'table-filter', placeholder: 'Filter rows', 'aria-label': 'Filter the rows shown',
      oninput: () => {
        this.text = this.search.value.trim().toLowerCase();
        this.render();
      },
    });
    this.count = h('span', { class: 'count', 'aria-live': 'polite' });
    this.more = h('button', { type: 'button', hidden: true, onclick: () => this.load(false) }, 'Load more');
    this.body = h('div', { class: 'table-wrap' });
    this.root.append(h('div', { class: 'table-bar' }, this.tabs, this.search, this.count, this.more), this.body);
    this.renderTabs();
  }

  renderTabs() {
    const names = Object.entries(TABLES).map(([k, t]) => [k, t.label]);
    fill(this.tabs, tabList(names, this.table, 'Record table', (k) => this.pick(k)));
  }

  pick(name) {
    if (name === this.table) return;
    this.table = name;
    this.sort = null;
    // Not the last table's rows under this one's columns while it loads.
    this.records = [];
    this.next = null;
    this.renderTabs();
    this.tabs.querySelector(`[data-tab="${name}"]`).focus();
    this.load(true);
    this.render();
  }

  // Fetches the first page (reset) or the next one. A first page takes over
  // from a load in flight, whose answer (maybe of the table shown before)
  // is then dropped.
  async load(reset) {
    if (this.loading && !reset) return;
    const token = {};
    this.loading = token;
    const q = this.app.query();
    const params = { since: q.since, proto: q.proto, limit: 1000 };
    if (!reset && this.next) params.after = this.next;
    try {
      const page = await this.app.source.records(this.table, params);
      if (this.loading !== token) return;
      this.records = reset ? page.records : this.records.concat(page.records);
      this.next = page.next;
      this.error = null;
    } catch (e) {
      if (this.loading !== token) return;
      this.error = e.message;
      if (reset) this.records = [];
    }
    this.loading = null;
    this.render();
  }

  // Live updates reload the first page, unless the user paged further.
  refresh() {
    if (this.records.length <= 1000) this.load(true);
  }

  // The rows shown: the map's filters, then the text filter, then the sort.
  shown() {
    const cols = TABLES[this.table].cols;
    const f = this.app.filters();
    const level = this.app.level();
    let rows = this.records.filter((r) => f.keepsRecord(r, level));
    if (this.text) rows = rows.filter((r) => rowText(cols, r).includes(this.text));
    return sortRecords(cols, rows, this.sort);
  }

  render() {
    const rows = this.shown();
    const cols = shownCols(TABLES[this.table].cols, rows);
    this.lastShown = rows;
    const more = this.next ? ' (more on the agent)' : '';
    this.count.textContent = this.error
      ? this.error
      : `${fmtNum(rows.length)} of ${fmtNum(this.records.length)} loaded${more}`;
    this.count.classList.toggle('error', !!this.error);
    this.more.hidden = !this.next;
    fill(this.body, rows.length
      ? recordTable(cols, rows, {
        sort: this.sort,
        caption: `${TABLES[this.table].label} records`,
        onSort: (key) => {
          this.sort = this.sort && this.sort.key === key ? { key, dir: -this.sort.dir } : { key, dir: 1 };
          this.render();
          this.body.querySelector(`th[aria-sort] button`)?.focus();
        },
      })
      : h('p', { class: 'empty' }, this.loading ? 'Loading…' : 'No records match.'));
  }

  // What export writes: the columns and rows as shown.
  exportData() {
    const rows = this.lastShown || this.shown();
    const cols = shownCols(TABLES[this.table].cols, rows);
    return {
      name: this.table,
      header: cols.map((c) => c.label),
      rows: rows.map((r) => cols.map((c) => c.value(r))),
      records: rows,
    };
  }
}
