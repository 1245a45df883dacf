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

// How long the stream waits before connecting again, at most.
const MAX_RETRY_MS = 30000;

export class ApiSource {
  // `askToken(reason)` resolves to a token (or null) when the agent
  // refuses a read for want of one (see token.js).
  constructor(askToken) {
    this.live = true;
    this.askToken = askToken;
    this.token = null; // in memory only
    this.declined = false;
    this.capturesPackets = true;
    // Set for `podwire read --serve`: the capture's end, which relative
    // windows (`since=5m`) count back from.
    this.captureEnd = null;
  }

  // What the server is: a live agent, or capture files served by `podwire
  // read --serve` (no new records, no packets to capture). A server that
  // cannot say is taken as live, as before the status said. Asked with the
  // token (the status is guarded like the records), so a guarded agent
  // asks for the token here first.
  async detect() {
    try {
      const res = await this.get(url('status', {}));
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

  headers() {
    // X-Podwire-Token rather than Authorization: the API server's pod
    // proxy consumes Authorization for itself.
    return this.token ? { 'X-Podwire-Token': this.token } : {};
  }

  // GET with the token; on 401, ask for one and try again. A viewer who
  // cancels is not asked again on this page (a reload asks anew).
  async get(u, opts = {}) {
    for (;;) {
      const res = await fetch(u, { ...opts, headers: { ...this.headers(), ...(opts.headers || {}) } });
      if (res.status !== 401 || !this.askToken || this.declined) return res;
      const reason = (await res.text().catch(() => '')).trim();
      const token = await this.askToken(reason);
      if (!token) {
        this.declined = true;
        throw await failure(new Response(reason, { status: 401, statusText: 'Unauthorized' }));
      }
      this.token = token;
    }
  }

  async graph(params) {
    const res = await this.get(url('graph', params));
    if (!res.ok) throw await failure(res);
    return res.json();
  }

  // One page of a record table, newest first, and the cursor of the next.
  async records(table, params) {
    const res = await this.get(url(table, params));
    if (!res.ok) throw await failure(res);
    return { records: await res.json(), next: res.headers.get('X-Podwire-Next-Cursor') };
  }

  // New records as they are stored (server-sent events, read with fetch so
  // the token can be sent: EventSource cannot send headers). `onRecord(type)`
  // is called per record; `onState('live'|'retrying'|'closed')`. Returns a
  // closer. A broken stream is opened again after a growing pause.
  stream(onRecord, onState) {
    const ctl = new AbortController();
    let wait = 1000;
    const run = async () => {
      while (!ctl.signal.aborted) {
        try {
          const res = await this.get(url('stream', {}), { signal: ctl.signal, cache: 'no-store', headers: { Accept: 'text/event-stream' } });
          if (res.status === 401) {
            onState('closed');
            return;
          }
          if (!res.ok) throw await failure(res);
          onState('live');
          wait = 1000;
          await readEvents(res.body, onRecord);
        } catch (e) {
          if (ctl.signal.aborted) return;
          if (e.status === 401) {
            onState('closed');
            return;
          }
        }
        if (ctl.signal.aborted) return;
        onState('retrying');
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, MAX_RETRY_MS);
      }
    };
    run();
    return () => ctl.abort();
  }

  // (the capture sends its own token, typed in the capture form)
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

// Calls `onRecord(type)` for each event of a server-sent event stream
// until it ends. Events are named by record type (`lagged`: records this
// client missed); only the names are needed.
async function readEvents(body, onRecord) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let name = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (name) onRecord(name);
        name = '';
      } else if (line.startsWith('event:')) {
        name = line.slice(6).trim();
      }
    }
    // A line longer than any event is not SSE: keep memory bounded.
    if (buf.length > 1 << 20) buf = '';
  }
}
