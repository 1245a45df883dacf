// The record tables (docs/records.md; the request protocols' fields are
// crates/record/src/proto/*.rs) as columns: what the panel and the table
// view show, and what CSV export writes. `value` is the raw value
// (exported), `text` how it is shown, `warn` marks a cell red, and a
// `sparse` column is left out when no row has a value for it (gRPC columns
// of HTTP/1 traffic).

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
const count = (key, label, get) => ({ key, label, num: true, value: get, text: fmtNum });
const plain = (key, label, get) => ({ key, label, value: get });

// The fields every request protocol after HTTP and DNS shares: `operation`,
// `outcome` ("ok", "error", null without a response) and `error` {code,
// message}. One column says the outcome with the error's code, so a failed
// request reads "error 42P01"; the message has its own column.
const operation = plain('operation', 'Operation', (r) => r.operation);
const outcome = {
  key: 'outcome', label: 'Outcome',
  value: (r) => (r.outcome === 'error' && r.error?.code ? `error ${r.error.code}` : r.outcome ?? null),
  warn: (v) => typeof v === 'string' && v.startsWith('error'),
};
const errorMessage = plain('error', 'Error', (r) => r.error?.message ?? null);
const latency = ms('latency_ms', 'Latency', (r) => r.latency_ms);

// gRPC status codes (grpc/doc/statuscodes.md), named next to the number.
const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
const grpcStatus = (v) => (v === null || v === undefined ? '–' : GRPC_CODES[v] ? `${v} ${GRPC_CODES[v]}` : String(v));

// Kafka topics as "orders (3 partitions), audit": names (or, in versions
// that name topics by id, the id's first digits), partitions when several.
function topicsText(topics) {
  if (!topics || !topics.length) return null;
  return topics.map((t) => {
    const name = t.name ?? (t.id ? t.id.slice(0, 8) : '?');
    return t.partitions && t.partitions.length > 1 ? `${name} (${t.partitions.length} partitions)` : name;
  }).join(', ');
}

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
      { key: 'version', label: 'Version', value: (r) => r.version, text: (v) => (v === '2' ? 'HTTP/2' : v ?? '–') },
      { key: 'method', label: 'Method', value: (r) => r.method },
      { key: 'host', label: 'Host', value: (r) => r.host },
      { key: 'path', label: 'Path', value: (r) => r.path },
      { key: 'status', label: 'Status', num: true, value: (r) => r.status, warn: (v) => v === null || v >= 500 },
      { ...plain('grpc', 'gRPC', (r) => (r.grpc ? `${r.grpc.service}/${r.grpc.method}` : null)), sparse: true },
      {
        key: 'grpc_status', label: 'gRPC status', value: (r) => r.grpc?.status ?? null, text: grpcStatus, sparse: true,
        warn: (v) => v !== null && v !== undefined && v !== 0,
      },
      { ...plain('grpc_message', 'gRPC message', (r) => r.grpc?.message || null), sparse: true },
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
  // The request protocols: figures first, the long text (statement,
  // command, topics, error message) last, where it wraps.
  postgres: {
    label: 'PostgreSQL',
    cols: [
      time, client, server,
      plain('database', 'Database', (r) => r.database),
      plain('user', 'User', (r) => r.user),
      operation, outcome, latency,
      count('rows', 'Rows', (r) => r.rows ?? null),
      plain('statement', 'Statement', (r) => r.statement),
      errorMessage,
    ],
  },
  mysql: {
    label: 'MySQL',
    cols: [
      time, client, server,
      plain('database', 'Database', (r) => r.database),
      plain('user', 'User', (r) => r.user),
      plain('com', 'Command', (r) => r.command),
      operation, outcome, latency,
      count('rows', 'Rows', (r) => r.rows ?? null),
      count('affected_rows', 'Affected', (r) => r.affected_rows ?? null),
      plain('statement', 'Statement', (r) => r.statement),
      errorMessage,
    ],
  },
  redis: {
    label: 'Redis',
    cols: [
      time, client, server,
      operation, outcome, latency,
      plain('reply_type', 'Reply', (r) => r.reply_type),
      bytes('reply_bytes', 'Reply bytes', (r) => r.reply_bytes ?? null),
      plain('key', 'Key', (r) => r.key),
      plain('command', 'Command', (r) => r.command ?? (r.channel ? `${r.operation} ${r.channel}` : null)),
      errorMessage,
    ],
  },
  kafka: {
    label: 'Kafka',
    cols: [
      time, client, server,
      plain('client_id', 'Client id', (r) => r.client_id),
      operation,
      count('api_version', 'Version', (r) => r.api_version ?? null),
      outcome, latency,
      count('records', 'Records', (r) => r.records ?? null),
      bytes('record_bytes', 'Record bytes', (r) => r.record_bytes ?? null),
      plain('topics', 'Topics', (r) => topicsText(r.topics)),
      errorMessage,
    ],
  },
};

// The columns worth showing for `rows`: a sparse one only when some row has
// a value for it.
export function shownCols(cols, rows) {
  return cols.filter((c) => !c.sparse || rows.some((r) => {
    const v = c.value(r);
    return v !== null && v !== undefined && v !== '';
  }));
}

export function cellText(col, v) {
  if (col.text) return col.text(v);
  return v === null || v === undefined || v === '' ? '–' : String(v);
}

// The text a row is searched by: every shown cell, lower case.
export function rowText(cols, rec) {
  return cols.map((c) => cellText(c, c.value(rec))).join(' ').toLowerCase();
}
