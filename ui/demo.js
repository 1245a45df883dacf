// Synthetic data for trying the UI at scale without an agent:
//   /ui/?demo=synthetic&nodes=1000&edges=5000[&seed=7]
// It answers the same calls as ApiSource, from a generated cluster (skewed
// namespace sizes, Deployments with replicas, external domains, traffic
// mostly within a namespace), so every view works on it. Deterministic for
// a seed, so measurements repeat.

import { addStats, emptyStats, nodeInfo } from './model.js';

// A small fast PRNG (mulberry32).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['shop', 'payments', 'search', 'auth', 'media', 'kube-system', 'monitoring', 'ingress', 'billing',
  'catalog', 'orders', 'users', 'inventory', 'recs', 'mail', 'cdn', 'analytics', 'logging', 'ml', 'batch',
  'gateway', 'ledger', 'reviews', 'shipping', 'notify', 'feeds', 'profile', 'chat', 'geo', 'ads'];
const SVC = ['api', 'web', 'worker', 'db', 'cache', 'queue', 'frontend', 'backend', 'cron', 'proxy', 'store', 'index'];

// What a server speaks, by its service's name: databases (PostgreSQL in
// odd-numbered namespaces, MySQL in the others), caches (Redis) and queues
// (Kafka) their own protocols, everything else HTTP (gRPC for backends).
function speaks(ep) {
  const svc = (ep.workload || '').split('/')[1]?.replace(/-\d+$/, '');
  if (svc === 'db') return Number(ep.ip.split('.')[1]) % 2 ? 'postgres' : 'mysql';
  if (svc === 'cache') return 'redis';
  if (svc === 'queue') return 'kafka';
  return 'http';
}
const REQUEST_TABLES = new Set(['http', 'postgres', 'mysql', 'redis', 'kafka']);

const SQL = [
  ['SELECT', 'SELECT id, name, price FROM items WHERE id = ?', 1],
  ['SELECT', 'SELECT count(*) FROM orders WHERE user_id = ? AND created_at > ?', 1],
  ['UPDATE', 'UPDATE stock SET qty = qty - ? WHERE item_id = ?', 1],
  ['INSERT', 'INSERT INTO orders (user_id, total) VALUES (?, ?)', 1],
  ['DELETE', 'DELETE FROM sessions WHERE expires_at < ?', 12],
];
const REDIS = [['GET', 'GET session:?', 'bulk'], ['SET', 'SET session:? ?', 'simple'], ['INCR', 'INCR hits:?', 'integer'], ['HGETALL', 'HGETALL user:?', 'map']];
const KAFKA = [['Produce', 9], ['Fetch', 12], ['Metadata', 12]];

// One record of a request protocol (crates/record/src/proto/*.rs) for the
// k-th request on edge i, `fail` when it is one of the few that fail.
function protocolRecord(table, base, ts, i, k, lat, fail) {
  const s = base.server;
  const common = { ...base, type: table, ts, latency_ms: lat, outcome: fail ? 'error' : 'ok' };
  const n = (i * 13 + k) % 997;
  if (table === 'postgres' || table === 'mysql') {
    const [op, statement, rows] = SQL[(i + k) % SQL.length];
    const error = !fail ? null : table === 'postgres'
      ? { code: '40P01', message: 'deadlock detected' }
      : { code: '1213', message: 'Deadlock found when trying to get lock; try restarting transaction' };
    const db = { operation: op, statement, truncated: false, database: s.namespace, user: 'app', error, rows: fail ? null : rows };
    return table === 'postgres'
      ? { ...common, ...db, statement_name: null, protocol: 'extended', application: base.client.pod ?? null, backend_pid: 1000 + (i % 5000), severity: fail ? 'ERROR' : null, tag: fail ? null : `${op} ${rows}`, copy_bytes: null, notices: 0, channel: null, auth: null }
      : { ...common, ...db, command: 'QUERY', statement_id: null, server_version: '8.0.36', sqlstate: fail ? '40001' : null, results: 1, columns: op === 'SELECT' ? 3 : null, affected_rows: op === 'SELECT' ? null : rows, warnings: 0, infile_bytes: null };
  }
  if (table === 'redis') {
    const [op, cmd, reply] = REDIS[(i + k) % REDIS.length];
    const key = cmd.split(' ')[1].replace('?', String(n));
    return { ...common, operation: op, command: cmd.replace('?', String(n)), key, channel: null, pattern: null, args: cmd.split(' ').length, command_bytes: 20 + key.length, queued: false, error: fail ? { code: 'WRONGTYPE', message: 'Operation against a key holding the wrong kind of value' } : null, reply_type: fail ? 'error' : reply, reply_bytes: fail ? 60 : 5 + (n % 300), reply_elements: reply === 'map' ? 8 : null, reply_errors: null, payload_bytes: null, truncated: false };
  }
  const [op, version] = KAFKA[(i + k) % KAFKA.length];
  const data = op !== 'Metadata';
  const topics = data ? [{ name: `${s.namespace}.events`, id: null, records: 10 + (n % 90), record_bytes: 2000 + n * 10, partitions: [{ partition: k % 3, records: 10 + (n % 90), record_bytes: 2000 + n * 10, error: fail ? 'NOT_LEADER_OR_FOLLOWER' : null }] }] : [];
  return { ...common, operation: op, error: fail ? { code: 'NOT_LEADER_OR_FOLLOWER', message: null } : null, api_key: { Produce: 0, Fetch: 1, Metadata: 3 }[op], api_version: version, correlation_id: i * 10 + k, client_id: base.client.pod ?? null, acks: op === 'Produce' ? -1 : null, topics, records: data ? topics[0].records : null, record_bytes: data ? topics[0].record_bytes : null, request_bytes: 120 + n, response_bytes: 80 + n, truncated: false };
}

// An HTTP exchange; gRPC over HTTP/2 to backends.
function httpRecord(base, ts, i, k, lat) {
  const s = base.server;
  const status = (i + k) % 23 === 0 ? 503 : (i + k) % 7 === 0 ? 404 : 200;
  const rec = { ...base, type: 'http', ts, method: k % 2 ? 'POST' : 'GET', host: s.domain || s.pod, path: `/v1/items/${(i * 13 + k) % 997}`, version: 'HTTP/1.1', status, latency_ms: lat, request_body_bytes: 0, response_body_bytes: 100 + ((i * k) % 4000) };
  if (!/\/backend/.test(s.workload || '')) return rec;
  const method = ['GetItem', 'ListItems', 'Reserve'][(i + k) % 3];
  const grpcStatus = (i + k) % 11 === 0 ? 14 : (i + k) % 13 === 0 ? 5 : 0;
  return {
    ...rec, method: 'POST', path: `/shop.v1.Catalog/${method}`, version: '2', status: 200, stream_id: 1 + 2 * k, request_body_bytes: 40,
    grpc: { service: 'shop.v1.Catalog', method, status: grpcStatus, message: grpcStatus ? (grpcStatus === 14 ? 'upstream connect error' : 'item not found') : '', request_messages: 1, response_messages: grpcStatus ? 0 : 1 },
  };
}

export class DemoSource {
  constructor({ nodes = 1000, edges = 5000, seed = 7 } = {}) {
    this.live = false;
    const r = rng(seed);
    this.r = r;
    const nsCount = Math.max(2, Math.round(Math.sqrt(nodes) / 1.3));
    const externals = Math.max(1, Math.round(nodes * 0.06));
    const pods = nodes - externals;
    // Namespace sizes fall off like a power law: a few big, many small.
    const weights = Array.from({ length: nsCount }, (_, i) => 1 / Math.pow(i + 1, 0.7));
    const wsum = weights.reduce((a, b) => a + b, 0);
    this.eps = [];
    const byNs = [];
    let made = 0;
    for (let i = 0; i < nsCount; i++) {
      const ns = i < WORDS.length ? WORDS[i] : `team-${i}`;
      const want = i === nsCount - 1 ? pods - made : Math.max(1, Math.round((pods * weights[i]) / wsum));
      const list = [];
      let s = 0;
      while (list.length < want && made < pods) {
        const svc = SVC[s % SVC.length] + (s >= SVC.length ? `-${Math.floor(s / SVC.length)}` : '');
        const replicas = 1 + Math.floor(r() * 4);
        for (let k = 0; k < replicas && list.length < want && made < pods; k++) {
          const idx = this.eps.length;
          const ep = {
            ip: `10.${(i % 250) + 1}.${Math.floor(idx / 250) % 250}.${(idx % 250) + 1}`,
            namespace: ns, pod: `${svc}-${(Math.floor(r() * 0xfffff)).toString(16).padStart(5, '0')}`,
            workload: `Deployment/${svc}`,
          };
          this.eps.push(ep);
          list.push(idx);
          made++;
        }
        s++;
      }
      byNs.push(list);
    }
    const ext = [];
    for (let i = 0; i < externals; i++) {
      ext.push(this.eps.length);
      this.eps.push({ ip: `44.${Math.floor(i / 250) + 1}.${i % 250}.${1 + (i % 200)}`, domain: `api-${i}.vendor${i % 17}.example.com` });
    }
    const pick = (list) => list[Math.floor(r() * list.length)];
    const nonEmpty = byNs.filter((l) => l.length);
    const seen = new Set();
    this.edges = [];
    const add = (a, b) => {
      if (a === b || seen.has(a * 1e6 + b)) return false;
      seen.add(a * 1e6 + b);
      const conns = 1 + Math.floor(Math.pow(r(), 3) * 400);
      const dur = 0.005 + r() * 2;
      this.edges.push({
        c: a, s: b, proto: r() < 0.9 ? 'tcp' : 'udp',
        stats: {
          connections: conns, open: Math.floor(conns * r() * 0.2), persistent: Math.floor(conns * r() * 0.05),
          client_bytes: Math.floor(conns * (200 + r() * 5000)), server_bytes: Math.floor(conns * (500 + r() * 50000)),
          duration_seconds_sum: conns * dur, duration_seconds_max: dur * 3,
          retransmits: r() < 0.1 ? Math.floor(r() * 20) : 0, last_seen_ms: Date.now() - Math.floor(r() * 600000),
        },
      });
      return true;
    };
    // First one edge per endpoint (the agent's graph has no lonely node, so
    // this is what makes `nodes` exact), then random ones up to `edges`.
    const nsOf = new Map();
    byNs.forEach((l) => l.forEach((i) => nsOf.set(i, l)));
    for (let i = 0; i < this.eps.length && this.edges.length < edges; i++) {
      for (let t = 0; t < 20; t++) {
        const own = nsOf.get(i);
        if (own ? add(i, r() < 0.7 ? pick(own) : pick(pick(nonEmpty))) : add(pick(pick(nonEmpty)), i)) break;
      }
    }
    for (let tries = 0; this.edges.length < edges && tries < edges * 20; tries++) {
      const home = nonEmpty[Math.floor(Math.pow(r(), 1.6) * nonEmpty.length)];
      const u = r();
      add(pick(home), u < 0.65 ? pick(home) : u < 0.9 ? pick(pick(nonEmpty)) : pick(ext));
    }
    this.cache = new Map();
  }

  // The graph at a level, folded the way the agent folds it.
  async graph(params) {
    const level = params.level || 'pod';
    if (this.cache.has(level)) return this.cache.get(level);
    const nodes = new Map();
    const edges = new Map();
    for (const e of this.edges) {
      const c = nodeInfo(this.eps[e.c], level);
      const s = nodeInfo(this.eps[e.s], level);
      const key = c.id + '\u0000' + s.id;
      let x = edges.get(key);
      if (!x) edges.set(key, (x = { id: `${c.id}-${s.id}`, source: c.id, target: s.id, protocols: [], stats: emptyStats() }));
      addStats(x.stats, e.stats);
      if (!x.protocols.includes(e.proto)) x.protocols.push(e.proto);
      for (const n of [c, s]) if (!nodes.has(n.id)) nodes.set(n.id, { ...n, inbound: emptyStats(), outbound: emptyStats() });
    }
    for (const x of edges.values()) {
      x.protocols.sort();
      addStats(nodes.get(x.source).outbound, x.stats);
      addStats(nodes.get(x.target).inbound, x.stats);
    }
    const g = { level, nodes: [...nodes.values()], edges: [...edges.values()] };
    this.cache.set(level, g);
    return g;
  }

  // Records of the edges a query selects (a subset of the agent's filter).
  async records(table, params) {
    const limit = Number(params.limit) || 1000;
    const same = (want, got) => !want || want === got;
    const ident = (ep) => same(params.namespace, ep.namespace) && same(params.pod, ep.pod) &&
      (!params.workload || ep.workload === params.workload || ep.workload === `Deployment/${params.workload}`) &&
      (!params.domain || (ep.domain || '').endsWith(params.domain));
    const out = [];
    const now = Date.now();
    for (let i = 0; i < this.edges.length && out.length < limit; i++) {
      const e = this.edges[i];
      const c = this.eps[e.c];
      const s = this.eps[e.s];
      if (!(ident(c) || ident(s))) continue;
      if (!same(params.client_ip, c.ip) || !same(params.server_ip, s.ip)) continue;
      if (params.ip && params.ip !== c.ip && params.ip !== s.ip) continue;
      if (REQUEST_TABLES.has(table) && speaks(s) !== table) continue;
      const base = { v: 1, client: { ...c, port: 40000 + (i % 20000) }, server: { ...s, port: s.domain ? 443 : 8080 } };
      const ts = (k) => new Date(now - ((i * 7 + k) % 600) * 1000 - k * 13).toISOString();
      const n = 1 + (i % 3);
      for (let k = 0; k < n && out.length < limit; k++) {
        const lat = 0.3 + ((i * 31 + k * 17) % 500) / 10;
        if (table === 'http') {
          out.push(httpRecord(base, ts(k), i, k, lat));
        } else if (REQUEST_TABLES.has(table)) {
          out.push(protocolRecord(table, base, ts(k), i, k, lat / 4, (i + k) % 17 === 0));
        } else if (table === 'dns') {
          out.push({ ...base, type: 'dns', ts: ts(k), transport: 'udp', id: (i * 7 + k) % 65536, name: s.domain || `${s.pod}.${s.namespace}.svc.cluster.local`, qtype: 'A', rcode: (i + k) % 31 === 0 ? 'SERVFAIL' : 'NOERROR', answers: [{ name: s.domain || s.pod, type: 'A', ttl: 30, data: s.ip }], latency_ms: lat / 10 });
        } else if (table === 'tls') {
          out.push({ ...base, type: 'tls', ts: ts(k), sni: s.domain || null, alpn: ['h2', 'http/1.1'], alpn_selected: 'h2', version: 'TLS 1.3', cipher: 'TLS_AES_128_GCM_SHA256', client_versions: ['TLS 1.3'], client_ciphers: [], ja3: null, ja4: null, certificate: null });
        } else {
          out.push({ ...base, type: 'connection', ts: ts(k), proto: e.proto, first_seen: ts(k), last_seen: ts(k), duration_ms: lat * 20, close: k ? 'fin' : 'open', handshake_rtt_ms: lat / 20, retransmits: 0, client_to_server: { packets: 10, bytes: 1500 + i, payload_bytes: 800 }, server_to_client: { packets: 12, bytes: 9000 + i, payload_bytes: 8000 }, handshake_seen: true });
        }
      }
    }
    out.sort((a, b) => (a.ts < b.ts ? 1 : -1));
    return { records: out, next: null };
  }

  stream() {
    return () => {};
  }

  async capture() {
    throw new Error('synthetic demo data: there is no agent to capture packets from');
  }
}
