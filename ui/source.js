// Where the UI's data comes from: the agent's API, through relative URLs
// (the page is at <base>/ui/, the API at <base>/api/v1/), so the UI also
// works behind a path prefix such as the API server's pod proxy.

const BASE = new URL('../api/v1/', document.baseURI);

function url(path, params) {
  const u = new URL(path, BASE);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  return u;
}

// The agent's refusals are `{"error": "..."}` (capture) or plain text
// naming the bad parameter (queries); either way the text is shown as is.
async function failure(res) {
  let text = (await res.text().catch(() => '')).trim();
  try {
    const j = JSON.parse(text);
    if (j && typeof j.error === 'string') text = j.error;
  } catch {
    // Plain text already.
  }
  const e = new Error(`${res.status} ${res.statusText}${text ? ': ' + text : ''}`);
  e.status = res.status;
  e.detail = text;
  return e;
}

export class ApiSource {
  constructor() {
    this.live = true;
    this.capturesPackets = true;
    // Set for `podwire read --serve`: the capture's end, which relative
    // windows (`since=5m`) count back from.
    this.captureEnd = null;
  }

  // What the server is: a live agent, or capture files served by `podwire
  // read --serve` (no new records, no packets to capture). A server that
  // cannot say is taken as live, as before the status said.
  async detect() {
    try {
      const res = await fetch(url('status', {}));
      const s = res.ok ? await res.json() : null;
      if (s && s.mode === 'capture') {
        this.live = false;
        this.capturesPackets = false;
        this.captureEnd = s.now || null;
      }
    } catch {
      // Live, as before.
    }
  }

  async graph(params) {
    const res = await fetch(url('graph', params));
    if (!res.ok) throw await failure(res);
    return res.json();
  }

  // One page of a record table, newest first, and the cursor of the next.
  async records(table, params) {
    const res = await fetch(url(table, params));
    if (!res.ok) throw await failure(res);
    return { records: await res.json(), next: res.headers.get('X-Podwire-Next-Cursor') };
  }

  // New records as they are stored (server-sent events). `onRecord(type)`
  // is called per record; `onState('live'|'retrying')`. Returns a closer.
  stream(onRecord, onState) {
    const es = new EventSource(url('stream', {}));
    // Events are named by record type (`lagged`: records this client missed).
    const types = ['connection', 'tls', 'http', 'dns', 'postgres', 'mysql', 'redis', 'kafka', 'lagged'];
    for (const t of types) es.addEventListener(t, () => onRecord(t));
    es.onopen = () => onState('live');
    es.onerror = () => onState(es.readyState === EventSource.CLOSED ? 'closed' : 'retrying');
    return () => es.close();
  }

  // A packet capture, streamed into memory until the agent ends it (at its
  // duration) or `signal` aborts. `onBytes(n)` reports progress.
  async capture(params, token, signal, onBytes) {
    const res = await fetch(url('capture', params), {
      headers: { Authorization: `Bearer ${token}` },
      signal,
      cache: 'no-store',
    });
    if (!res.ok) throw await failure(res);
    const reader = res.body.getReader();
    const chunks = [];
    let n = 0;
    for (;;) {
      let part;
      try {
        part = await reader.read();
      } catch (e) {
        // Stopped by the user: keep what arrived (Wireshark reads a file
        // cut short up to the cut).
        if (signal.aborted) break;
        throw e;
      }
      if (part.done) break;
      chunks.push(part.value);
      n += part.value.length;
      onBytes(n);
    }
    return { blob: new Blob(chunks, { type: 'application/x-pcapng' }), iface: res.headers.get('X-Podwire-Interface') };
  }
}
