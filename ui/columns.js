// The four record tables (docs/records.md) as columns: what the panel and
// the table view show, and what CSV export writes. `value` is the raw value
// (exported), `text` how it is shown.

import { displayName } from './model.js';
import { fmtBytes, fmtMs, fmtNum, fmtTime } from './util.js';

// "web.lab.test 10.88.0.11:2443": a name when known, and where.
export function endpointText(ep) {
  if (!ep) return '';
  const ip = ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip;
  const name = displayName(ep);
  const where = ep.port ? `${ip}:${ep.port}` : ip;
  const ns = ep.namespace && ep.pod ? `${ep.namespace}/` : '';
  return name ? `${ns}${name} ${where}` : where;
}

const time = { key: 'ts', label: 'Time', value: (r) => r.ts, text: (v) => fmtTime(v) };
const client = { key: 'client', label: 'Client', value: (r) => endpointText(r.client) };
const server = { key: 'server', label: 'Server', value: (r) => endpointText(r.server) };
const ms = (key, label, get) => ({ key, label, num: true, value: get, text: (v) => fmtMs(v) });
const bytes = (key, label, get) => ({ key, label, num: true, value: get, text: (v) => fmtBytes(v) });

// Days until a certificate's `not_after`, shown next to the date.
function expiry(notAfter) {
  if (!notAfter) return '–';
  const t = Date.parse(notAfter);
  if (Number.isNaN(t)) return String(notAfter);
  const days = Math.floor((t - Date.now()) / 86400000);
  const date = new Date(t).toISOString().slice(0, 10);
  return days < 0 ? `${date} (expired)` : `${date} (${days} d)`;
}

export const TABLES = {
  connections: {
    label: 'Connections',
    cols: [
      time, client, server,
      { key: 'proto', label: 'Proto', value: (r) => r.proto },
      { key: 'close', label: 'Close', value: (r) => r.close },
      ms('duration_ms', 'Duration', (r) => r.duration_ms),
      ms('rtt_ms', 'RTT', (r) => r.handshake_rtt_ms ?? r.kernel?.srtt_ms ?? null),
      bytes('bytes_out', 'Bytes →', (r) => r.client_to_server?.bytes ?? null),
      bytes('bytes_in', 'Bytes ←', (r) => r.server_to_client?.bytes ?? null),
      { key: 'retransmits', label: 'Retrans.', num: true, value: (r) => Math.max(r.retransmits || 0, r.kernel?.retransmits || 0), text: fmtNum },
    ],
  },
  tls: {
    label: 'TLS',
    cols: [
      time, client, server,
      { key: 'sni', label: 'SNI', value: (r) => r.sni },
      { key: 'version', label: 'Version', value: (r) => r.version },
      { key: 'cipher', label: 'Cipher', value: (r) => r.cipher },
      { key: 'alpn', label: 'ALPN', value: (r) => r.alpn_selected ?? (r.alpn || []).join(' ') },
      {
        key: 'cert_expiry', label: 'Cert expires', value: (r) => r.certificate?.not_after ?? null, text: expiry,
        warn: (v) => v && Date.parse(v) - Date.now() < 14 * 86400000,
      },
    ],
  },
  http: {
    label: 'HTTP',
    cols: [
      time, client, server,
      { key: 'method', label: 'Method', value: (r) => r.method },
      { key: 'host', label: 'Host', value: (r) => r.host },
      { key: 'path', label: 'Path', value: (r) => r.path },
      { key: 'status', label: 'Status', num: true, value: (r) => r.status, warn: (v) => v === null || v >= 500 },
      ms('latency_ms', 'Latency', (r) => r.latency_ms),
      bytes('response_body_bytes', 'Resp. body', (r) => r.response_body_bytes ?? null),
    ],
  },
  dns: {
    label: 'DNS',
    cols: [
      time, client, server,
      { key: 'transport', label: 'Transport', value: (r) => r.transport },
      { key: 'name', label: 'Name', value: (r) => r.name },
      { key: 'qtype', label: 'Type', value: (r) => r.qtype },
      { key: 'rcode', label: 'Rcode', value: (r) => r.rcode, warn: (v) => !v || (v !== 'NOERROR' && v !== 'NXDOMAIN') },
      { key: 'answers', label: 'Answers', value: (r) => (r.answers || []).map((a) => a.data).join(' ') },
      ms('latency_ms', 'Latency', (r) => r.latency_ms),
    ],
  },
};

export function cellText(col, v) {
  if (col.text) return col.text(v);
  return v === null || v === undefined || v === '' ? '–' : String(v);
}

// The text a row is searched by: every shown cell, lower case.
export function rowText(cols, rec) {
  return cols.map((c) => cellText(c, c.value(rec))).join(' ').toLowerCase();
}
