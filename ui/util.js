// Small helpers shared by every module: DOM building, number formatting,
// CSV and downloads. No dependencies, no globals.

// Builds an element. Text always goes in as text nodes (never as HTML):
// records carry untrusted strings (HTTP paths, DNS names, SNI), and the
// page's Content-Security-Policy is only the second line of defence.
//   h('button', {class: 'x', onclick: f, 'aria-label': 'Close'}, 'text', child)
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Replaces an element's children (null and false children are skipped,
// where the DOM's own append would write "null").
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// --- numbers ---------------------------------------------------------------

export function fmtNum(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2);
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  if (ms >= 60000) return (ms / 60000).toFixed(1) + ' min';
  if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
  if (ms >= 10) return ms.toFixed(0) + ' ms';
  return ms.toFixed(ms >= 1 ? 1 : 3) + ' ms';
}

export function fmtRate(perSecond) {
  if (!perSecond) return '0/s';
  if (perSecond >= 100) return perSecond.toFixed(0) + '/s';
  if (perSecond >= 1) return perSecond.toFixed(1) + '/s';
  if (perSecond * 60 >= 1) return (perSecond * 60).toFixed(1) + '/min';
  return (perSecond * 3600).toFixed(1) + '/h';
}

export function fmtPct(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return (x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1) + '%';
}

// "07:59:04.768" (local time), with the date when it is not today.
export function fmtTime(ts) {
  if (!ts) return '–';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

// --- export ----------------------------------------------------------------

// RFC 4180 CSV; a cell starting with = + - @ is prefixed with ' so that a
// spreadsheet does not run a formula an HTTP path smuggled in.
export function toCSV(header, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return '';
    let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (/^[=+\-@]/.test(s) && typeof v !== 'number') s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  // The click has handed the blob to the download; release it a bit later.
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function stamp() {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

// --- misc ------------------------------------------------------------------

// A string's 32-bit FNV-1a hash: stable pseudo-random placement per node id,
// so the same graph lays out the same way on every load.
export function hash(s) {
  let x = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193);
  }
  return x >>> 0;
}

// Matches by a case-insensitive substring, or a regular expression when the
// text is written /like this/. A bad expression matches nothing (and says so
// through `error`).
export function matcher(text) {
  text = (text || '').trim();
  if (!text) return null;
  const m = /^\/(.+)\/([a-z]*)$/.exec(text);
  if (m) {
    try {
      const re = new RegExp(m[1], m[2].includes('i') ? 'i' : '');
      return { test: (s) => re.test(s) };
    } catch (e) {
      return { test: () => false, error: e.message };
    }
  }
  const t = text.toLowerCase();
  return { test: (s) => s.toLowerCase().includes(t) };
}
