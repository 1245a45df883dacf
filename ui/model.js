// The map's model: the API graph (`/api/v1/graph`) plus request figures
// folded from the request records (HTTP, DNS, PostgreSQL, MySQL, Redis,
// Kafka), filtered, grouped by namespace and with collapsed groups merged
// into one node each.
//
// Node ids are the API's. To attribute a record (which only has endpoints)
// to a node, `nodeInfo` repeats the server's naming rules
// (crates/serve/src/names.rs, `node_key`) exactly; if they change there,
// they must change here.

import { matcher } from './util.js';

export const EXTERNAL = '(external)';
export const UNNAMED = '(no namespace)';
const SEP = '\u0000';

// `::ffff:10.0.0.1` is 10.0.0.1, as Rust's `IpAddr::to_canonical`.
export function canonicalIp(ip) {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip || '');
  return m ? m[1] : ip;
}

function workloadName(w) {
  const i = w.lastIndexOf('/');
  return i >= 0 ? w.slice(i + 1) : w;
}

// The best human name of an endpoint besides its address (names.rs
// `display_name`): pod, workload, service, process, node, domain.
export function displayName(ep) {
  return ep.pod ?? (ep.workload ? workloadName(ep.workload) : null) ?? ep.service ?? ep.process ?? ep.node ?? ep.domain ?? null;
}

// The node an endpoint belongs to at `level`: {id, title, subtitle,
// namespace}, as names.rs `node_key` builds it.
export function nodeInfo(ep, level) {
  const ip = canonicalIp(ep.ip);
  const ns = ep.namespace ?? null;
  if (level === 'ip') return { id: ip, title: displayName(ep) ?? ip, subtitle: ip, namespace: ns };
  if (ns && level === 'workload' && (ep.workload || ep.service)) {
    const title = ep.workload ? workloadName(ep.workload) : ep.service;
    const kind = ep.workload ? (ep.workload.includes('/') ? ep.workload.split('/')[0] : 'workload') : 'Service';
    return { id: `${ns}/${ep.workload ?? title}`, title, subtitle: kind, namespace: ns };
  }
  if (ns && level === 'namespace') return { id: ns, title: ns, subtitle: 'namespace', namespace: ns };
  if (ns && ep.pod) return { id: `${ns}/${ep.pod}`, title: ep.pod, subtitle: ip, namespace: ns };
  if (ep.process) return { id: `${ep.process}@${ip}`, title: ep.process, subtitle: ip, namespace: ns };
  if (ep.node) return { id: `node:${ep.node}`, title: ep.node, subtitle: 'node', namespace: ns };
  if (ep.domain) return { id: ep.domain, title: ep.domain, subtitle: 'domain', namespace: ns };
  return { id: ip, title: ip, subtitle: ip, namespace: ns };
}

const IPV4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/;

// Addresses of this network (RFC 1918, CGNAT ranges clusters use, loopback,
// link-local, IPv6 ULA): an unnamed one is "ours", anything else external.
export function isPrivateIp(ip) {
  const m = IPV4.exec(ip || '');
  if (m) {
    const [a, b] = [Number(m[1]), Number(m[2])];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) ||
      (a === 169 && b === 254) || (a === 100 && b >= 64 && b < 128);
  }
  const s = (ip || '').toLowerCase();
  return s === '::1' || /^f[cd][0-9a-f]{0,2}:/.test(s) || /^fe[89ab][0-9a-f]?:/.test(s);
}

// Which group (namespace cluster) a node is drawn in. A host (`node`) and
// a process (which runs on a host an agent watches) are never external,
// whatever their address.
export function groupOf(n) {
  if (n.namespace) return n.namespace;
  if (n.subtitle === 'domain') return EXTERNAL;
  if (n.subtitle === 'node' || n.id.includes('@')) return UNNAMED;
  return isPrivateIp(n.subtitle) ? UNNAMED : EXTERNAL;
}

// What a node is, for its shape and for what its panel offers.
export function kindOf(n, level) {
  if (n.subtitle === 'domain') return 'domain';
  if (n.subtitle === 'node') return 'node';
  if (level === 'namespace' && n.subtitle === 'namespace') return 'namespace';
  // A workload's subtitle is its kind (`Deployment`, `Service`), a pod's
  // its address.
  const address = n.subtitle.includes(':') || IPV4.test(n.subtitle);
  if (level === 'workload' && n.namespace && n.id.startsWith(n.namespace + '/') && !address) return 'workload';
  if (n.namespace && n.id === `${n.namespace}/${n.title}`) return 'pod';
  if (n.id.includes('@')) return 'process';
  return 'address';
}

// --- stats -----------------------------------------------------------------

export function emptyStats() {
  return {
    connections: 0, open: 0, persistent: 0, client_bytes: 0, server_bytes: 0,
    duration_seconds_sum: 0, duration_seconds_max: 0, retransmits: 0, last_seen_ms: 0,
  };
}

// Sums and maxima only, as Rust's `Stats::add`.
export function addStats(a, b) {
  a.connections += b.connections;
  a.open += b.open;
  a.persistent += b.persistent;
  a.client_bytes += b.client_bytes;
  a.server_bytes += b.server_bytes;
  a.duration_seconds_sum += b.duration_seconds_sum;
  a.duration_seconds_max = Math.max(a.duration_seconds_max, b.duration_seconds_max);
  a.retransmits += b.retransmits;
  a.last_seen_ms = Math.max(a.last_seen_ms, b.last_seen_ms);
  return a;
}

// The record types that are requests, in the order the UI lists them, with
// their names for people.
export const REQUEST_TYPES = ['http', 'dns', 'postgres', 'mysql', 'redis', 'kafka'];
export const REQUEST_LABELS = { http: 'HTTP', dns: 'DNS', postgres: 'PostgreSQL', mysql: 'MySQL', redis: 'Redis', kafka: 'Kafka' };

// Request figures of an edge or node: counts per type, errors, latencies.
function emptyReq() {
  const q = { requests: 0, errors: 0, latency_sum: 0, latency_n: 0, latencies: [] };
  for (const t of REQUEST_TYPES) q[t] = 0;
  return q;
}

function addReq(a, b) {
  a.requests += b.requests;
  for (const t of REQUEST_TYPES) a[t] += b[t];
  a.errors += b.errors;
  a.latency_sum += b.latency_sum;
  a.latency_n += b.latency_n;
  for (const l of b.latencies) a.latencies.push(l);
  return a;
}

// "PostgreSQL 11 · Redis 14": the request types in `q`, most first.
export function requestMix(q) {
  return REQUEST_TYPES.filter((t) => q[t]).sort((a, b) => q[b] - q[a])
    .map((t) => `${REQUEST_LABELS[t]} ${q[t]}`).join(' · ');
}

// An HTTP exchange failed when the server answered 5xx or never answered,
// or (gRPC) when the call ended with a non-zero grpc-status: gRPC reports
// its errors in trailers of an HTTP 200. A DNS one failed when the answer is
// neither NOERROR nor NXDOMAIN (a name that does not exist is an answer) or
// never came. The other protocols say it themselves (`outcome`); a request
// without a response (a Kafka produce with acks=0, a QUIT) is not an error.
export function isError(rec) {
  if (rec.type === 'http') {
    if (rec.status === null || rec.status === undefined || rec.status >= 500) return true;
    const g = rec.grpc?.status;
    return g !== null && g !== undefined && g !== 0;
  }
  if (rec.type === 'dns') return !rec.rcode || (rec.rcode !== 'NOERROR' && rec.rcode !== 'NXDOMAIN');
  return rec.outcome === 'error';
}

// Request records folded per (client node, server node) at `level`.
export function foldRequests(records, level) {
  const byEdge = new Map();
  let oldest = Infinity;
  let newest = -Infinity;
  for (const r of records) {
    const key = nodeInfo(r.client, level).id + SEP + nodeInfo(r.server, level).id;
    let q = byEdge.get(key);
    if (!q) byEdge.set(key, (q = emptyReq()));
    q.requests++;
    if (REQUEST_TYPES.includes(r.type)) q[r.type]++;
    if (isError(r)) q.errors++;
    if (typeof r.latency_ms === 'number') {
      q.latency_sum += r.latency_ms;
      q.latency_n++;
      q.latencies.push(r.latency_ms);
    }
    const t = Date.parse(r.ts);
    if (t < oldest) oldest = t;
    if (t > newest) newest = t;
  }
  return { byEdge, count: records.length, spanSeconds: records.length ? (newest - oldest) / 1000 : 0 };
}

export function p95(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))];
}

// --- the metric edges are sized and labelled by -------------------------------

export const METRICS = {
  connections: { label: 'Connections', unit: 'connections in the window' },
  bytes: { label: 'Bytes', unit: 'frame bytes, both directions' },
  rate: { label: 'Request rate', unit: 'HTTP, gRPC, DNS, SQL, Redis and Kafka requests per second' },
  errors: { label: 'Error rate', unit: 'HTTP 5xx or no answer, gRPC status not 0, DNS other than NOERROR/NXDOMAIN, SQL/Redis/Kafka errors' },
  latency: { label: 'Latency', unit: 'mean request latency' },
};

// The edge's figure for `metric`; null when it has none (no requests).
export function metricValue(e, metric, windowSeconds) {
  switch (metric) {
    case 'bytes': return e.stats.client_bytes + e.stats.server_bytes;
    case 'rate': return e.req.requests ? e.req.requests / windowSeconds : null;
    case 'errors': return e.req.requests ? e.req.errors / e.req.requests : null;
    case 'latency': return e.req.latency_n ? e.req.latency_sum / e.req.latency_n : null;
    default: return e.stats.connections;
  }
}

// --- filters -----------------------------------------------------------------

// Which nodes and records the viewer asked to see. One predicate for the map,
// the panel lists and the table view, so they always agree.
export class Filters {
  constructor({ include = '', exclude = '', hidden = [] } = {}) {
    this.include = matcher(include);
    this.exclude = matcher(exclude);
    this.hidden = new Set(hidden);
  }

  get error() {
    return this.include?.error || this.exclude?.error || null;
  }

  // Hidden namespaces and excluded names are hidden outright.
  keepsNode(n) {
    if (this.hidden.has(groupOf(n))) return false;
    return !(this.exclude && (this.exclude.test(n.id) || this.exclude.test(n.title)));
  }

  // `include` keeps what touches a matching node: the node and its peers.
  includes(n) {
    return !this.include || this.include.test(n.id) || this.include.test(n.title);
  }

  keepsEdge(src, dst) {
    return this.keepsNode(src) && this.keepsNode(dst) && (!this.include || this.includes(src) || this.includes(dst));
  }

  // A record is shown when its client -> server pair would be an edge shown.
  keepsRecord(rec, level) {
    return this.keepsEdge(nodeInfo(rec.client, level), nodeInfo(rec.server, level));
  }

  get active() {
    return !!(this.include || this.exclude || this.hidden.size);
  }
}

// --- the model ---------------------------------------------------------------

// `data`: {graph, requests (foldRequests), windowSeconds}; `opts`: {filters,
// collapsed: Set of groups, metric}. Returns what the map draws and the
// panel and tests read:
//   nodes: {id, title, subtitle, namespace, group, kind, inbound, outbound,
//           members (raw node ids), req}
//   edges: {id, source, target, protocols, stats, req, members (raw edges),
//           value, label width inputs}
export function buildModel(data, opts) {
  const { graph, requests } = data;
  const level = graph.level;
  const filters = opts.filters;
  const collapsed = opts.collapsed;
  const raw = new Map();
  const groups = new Map();
  for (const n of graph.nodes) {
    const group = groupOf(n);
    const info = { ...n, group, kind: kindOf(n, level) };
    raw.set(n.id, info);
    let g = groups.get(group);
    if (!g) groups.set(group, (g = { name: group, total: 0, shown: 0, collapsed: collapsed.has(group) }));
    g.total++;
  }

  // Edges that survive the filters, then the nodes they and the filters keep.
  const keptEdges = [];
  for (const e of graph.edges) {
    const s = raw.get(e.source);
    const t = raw.get(e.target);
    if (s && t && filters.keepsEdge(s, t)) keptEdges.push(e);
  }
  const keptNodes = new Set();
  for (const n of raw.values()) {
    // Without `include`, a node stays even when the filters took its edges.
    if (filters.keepsNode(n) && (filters.include ? filters.includes(n) : true)) keptNodes.add(n.id);
  }
  for (const e of keptEdges) {
    keptNodes.add(e.source);
    keptNodes.add(e.target);
  }

  // Collapsed groups become one node `group:<name>`.
  const nodes = new Map();
  const mapId = (id) => {
    const n = raw.get(id);
    return collapsed.has(n.group) ? 'group:' + n.group : id;
  };
  for (const id of keptNodes) {
    const n = raw.get(id);
    groups.get(n.group).shown++;
    const mid = mapId(id);
    let m = nodes.get(mid);
    if (!m) {
      m = mid === id
        ? { ...n, members: [id], inbound: { ...n.inbound }, outbound: { ...n.outbound } }
        : {
          id: mid, title: n.group, subtitle: 'collapsed group', namespace: n.namespace ?? null,
          group: n.group, kind: 'group', members: [], inbound: emptyStats(), outbound: emptyStats(),
        };
      m.req = emptyReq();
      m.reqOut = emptyReq();
      nodes.set(mid, m);
    }
    if (m.kind === 'group') {
      m.members.push(id);
      addStats(m.inbound, n.inbound);
      addStats(m.outbound, n.outbound);
    }
  }

  const edges = new Map();
  const windowSeconds = data.windowSeconds;
  for (const e of keptEdges) {
    const s = mapId(e.source);
    const t = mapId(e.target);
    const req = requests.byEdge.get(e.source + SEP + e.target) || emptyReq();
    addReq(nodes.get(t).req, req);
    addReq(nodes.get(s).reqOut, req);
    if (s === t) continue; // inside a collapsed group: counted on the group node
    const key = s + SEP + t;
    let m = edges.get(key);
    if (!m) {
      m = { id: `${s}\u2192${t}`, source: s, target: t, protocols: [], stats: emptyStats(), req: emptyReq(), members: [] };
      edges.set(key, m);
    }
    addStats(m.stats, e.stats);
    addReq(m.req, req);
    for (const p of e.protocols) if (!m.protocols.includes(p)) m.protocols.push(p);
    m.members.push([e.source, e.target]);
  }
  for (const m of edges.values()) {
    m.protocols.sort();
    m.value = metricValue(m, opts.metric, windowSeconds);
  }

  return {
    level,
    metric: opts.metric,
    windowSeconds,
    nodes: [...nodes.values()],
    edges: [...edges.values()],
    groups,
    raw,
    rawEdges: graph.edges.length,
    requestsCounted: requests.count,
    truncatedTypes: data.truncatedTypes || [],
  };
}

// The raw node ids a model node or edge end stands for.
export function membersOf(model, id) {
  const n = model.nodes.find((x) => x.id === id);
  return new Set(n ? n.members : [id]);
}
