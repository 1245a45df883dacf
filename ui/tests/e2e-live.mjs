// End-to-end test of the built-in UI against a live agent watching the lab.
//
//   PODWIRE_LIVE='{...}' node ui/tests/e2e-live.mjs BASE_URL OUT_DIR
//
// BASE_URL is a `podwire agent` with Kubernetes names (the lab's fake API
// server) capturing the lab's pods; the Rust test `ui_live` starts it,
// makes the traffic and runs this. PODWIRE_LIVE (JSON) says what the page
// must show: the pods' and workloads' names, the agent's graphs and records
// at the moment this started (nothing moves until this asks for more
// traffic), what curl and dig did, the tokens, the capture to make and
// where to save it. When this needs traffic in the middle of a step it
// prints `@@ <what>` and waits for the Rust test's `@@ <JSON>` answer on
// standard input. Screenshots go to OUT_DIR. Exit status 0 when every
// check passed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import readline from 'node:readline';
import { key, sameGraph, start } from './lib.mjs';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir || !process.env.PODWIRE_LIVE) {
  console.error('usage: PODWIRE_LIVE=JSON node e2e-live.mjs BASE_URL OUT_DIR');
  process.exit(2);
}
const cfg = JSON.parse(process.env.PODWIRE_LIVE);
const ns = cfg.namespace;
const podId = (k) => `${ns}/${cfg.pods[k]}`;
const workloadId = (k) => `${ns}/${cfg.workloads[k]}`;
const edgeKey = (a, b) => `${a} -> ${b}`;
const edgeId = (a, b) => `${a}\u2192${b}`;

// --- asking the Rust test for traffic ---------------------------------------------

const lines = readline.createInterface({ input: process.stdin });
const answers = [];
let waiting = null;
lines.on('line', (l) => {
  if (!l.startsWith('@@ ')) return;
  const v = JSON.parse(l.slice(3));
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(v);
  } else answers.push(v);
});
function ask(what) {
  console.log(`@@ ${what}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${what}`)), 60000);
    const done = (v) => {
      clearTimeout(timer);
      if (v.error) reject(new Error(`${what}: ${v.error}`));
      else resolve(v);
    };
    if (answers.length) done(answers.shift());
    else waiting = done;
  });
}

const t = await start(base, outDir);
const { page, step, api, P, open, ready, rebuilt, panelLoaded, clickItem, model, shot } = t;

const sig = (method, path, status) => `${method} ${path} ${status}`;
const httpOfEdge = (records, a, b) => records.filter((r) =>
  r.client.namespace === ns && r.client.pod === cfg.pods[a] && r.server.namespace === ns && r.server.pod === cfg.pods[b]);

// --- what the agent saw before the page opened ---------------------------------

await step('pod level: the lab pods by their Kubernetes names, with the agent\'s edges and numbers', async () => {
  await open('level=pod');
  const m = await model();
  sameGraph(m, cfg.graph.pod);
  sameGraph(m, await api('/api/v1/graph?level=pod')); // and nothing moved since
  for (const k of ['client', 'web', 'dns']) {
    const n = m.nodes.find((x) => x.id === podId(k));
    assert.ok(n, `${podId(k)} is on the map: ${m.nodes.map((x) => x.id)}`);
    assert.deepEqual([n.title, n.kind, n.group, n.namespace], [cfg.pods[k], 'pod', ns, ns], `${k}'s node`);
  }
  assert.ok(!m.nodes.some((n) => n.id === podId('tls')), 'no traffic to the tls pod yet');
  const web = edgeKey(podId('client'), podId('web'));
  const dns = edgeKey(podId('client'), podId('dns'));
  assert.deepEqual(m.edges.map(key).sort(), [dns, web].sort(), 'the lab\'s two conversations and nothing else');
  const e = m.edges.find((x) => key(x) === web);
  assert.equal(e.stats.connections, cfg.curl_connections, 'client -> web: the connections curl opened');
  assert.equal(e.stats.open, 0);
  assert.deepEqual(e.protocols, ['tcp'], 'client -> web protocols');
  assert.equal(e.requests.http, cfg.curl.length, 'client -> web: the requests curl made');
  assert.equal(e.requests.errors, cfg.curl.filter((x) => x.status >= 500).length);
  assert.equal(e.label, String(cfg.curl_connections), 'labelled with its connections');
  const d = m.edges.find((x) => key(x) === dns);
  assert.deepEqual(d.protocols, ['tcp', 'udp'], 'client -> dns protocols: dig over UDP and TCP');
  assert.equal(d.requests.dns, cfg.dig.length, 'client -> dns: the queries dig made');
  assert.equal(d.requests.errors, cfg.dig.filter((x) => !['NOERROR', 'NXDOMAIN'].includes(x.rcode)).length);
  // The names are what search finds.
  await page.fill('#search', cfg.pods.web);
  assert.equal(await page.textContent('#search-count'), '1 found');
  await page.waitForFunction(() => window.__podwire.live() === 'live', null, { timeout: 10000, polling: 50 });
  assert.equal(await page.textContent('#status'), '3 nodes, 2 edges · live');
});

await step('workload level: the pods\' StatefulSets and Deployments, with the agent\'s edges and numbers', async () => {
  await open('level=workload');
  const m = await model();
  sameGraph(m, cfg.graph.workload);
  sameGraph(m, await api('/api/v1/graph?level=workload'));
  for (const k of ['client', 'web', 'dns']) {
    const [kind, name] = cfg.workloads[k].split('/');
    const n = m.nodes.find((x) => x.id === workloadId(k));
    assert.ok(n, `${workloadId(k)} is on the map: ${m.nodes.map((x) => x.id)}`);
    assert.deepEqual([n.title, n.subtitle, n.kind, n.group], [name, kind, 'workload', ns], `${k}'s node`);
  }
  const e = m.edges.find((x) => key(x) === edgeKey(workloadId('client'), workloadId('web')));
  assert.ok(e, 'client -> web');
  assert.equal(e.stats.connections, cfg.curl_connections);
  assert.equal(e.requests.http, cfg.curl.length);
  const d = m.edges.find((x) => key(x) === edgeKey(workloadId('client'), workloadId('dns')));
  assert.ok(d, 'client -> dns');
  assert.equal(d.requests.dns, cfg.dig.length);
});

await step('filters: excluding a pod and hiding the namespace hide what they should and nothing else', async () => {
  const g = cfg.graph.pod;
  await open('level=pod');
  await rebuilt(() => page.fill('#exclude', cfg.pods.dns));
  let m = await model();
  assert.deepEqual(m.nodes.map((n) => n.id).sort(), g.nodes.map((n) => n.id).filter((id) => id !== podId('dns')).sort());
  assert.deepEqual(m.edges.map(key), [edgeKey(podId('client'), podId('web'))]);
  await rebuilt(() => page.fill('#exclude', ''));
  sameGraph(await model(), g);
  await page.click('#groups-summary');
  await rebuilt(() => page.uncheck(`#group-list input[data-group="${ns}"]`));
  m = await model();
  assert.deepEqual(m.nodes.map((n) => n.id).sort(), g.nodes.filter((n) => n.namespace !== ns).map((n) => n.id).sort());
  assert.deepEqual(m.edges, []);
  await rebuilt(() => page.check(`#group-list input[data-group="${ns}"]`));
  sameGraph(await model(), g);
});

await step('clicking client -> web lists exactly the HTTP requests curl made', async () => {
  await open('level=pod');
  const id = edgeId(podId('client'), podId('web'));
  await clickItem(id);
  const p = await panelLoaded();
  assert.deepEqual(p.target, { type: 'edge', id });
  assert.equal(p.tab, 'http', 'an edge with requests opens on them');
  assert.equal(p.error, null);
  const want = httpOfEdge(cfg.http, 'client', 'web');
  assert.deepEqual(p.records, want, 'the agent\'s /api/v1/http records of this edge, in its order');
  assert.deepEqual(p.records, httpOfEdge(await api('/api/v1/http'), 'client', 'web'));
  assert.deepEqual(p.records.map((r) => sig(r.method, r.path, r.status)).sort(),
    cfg.curl.map((x) => sig(x.method, x.target, x.status)).sort(), 'what curl did');
  assert.equal(await page.textContent('#panel-title'), `${cfg.pods.client} → ${cfg.pods.web}`);
  const header = await page.$$eval('#panel table.records th', (ths) => ths.map((x) => x.textContent));
  const rows = await page.$$eval('#panel table.records tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const col = (name) => {
    assert.ok(header.includes(name), `column ${name} in ${header}`);
    return header.indexOf(name);
  };
  assert.deepEqual(rows.map((r) => sig(r[col('Method')], r[col('Path')], r[col('Status')])),
    want.map((r) => sig(r.method, r.path, r.status)), 'the rows shown');
  assert.match(await page.textContent('#panel .count'), new RegExp(`^${cfg.curl.length} HTTP records`));
  await shot('live-edge.png');
});

// --- packet capture through the page, authorized by the API server ----------------

const form = '#panel form.capture';
const captureStatus = () => page.textContent(`${form} .capture-status`);

async function submitCapture(token) {
  await page.fill(`${form} input[name="token"]`, token);
  await page.fill(`${form} input[name="duration"]`, cfg.capture.duration);
  await page.fill(`${form} input[name="filter"]`, cfg.capture.filter);
  await page.click(`${form} button[type="submit"]`);
}

await step('a capture from the web pod\'s panel: refused with the API server\'s reason without the capture verb or a valid token', async () => {
  await open('level=pod');
  await clickItem(podId('web'));
  await panelLoaded();
  assert.equal(await page.inputValue(`${form} input[name="namespace"]`), ns);
  assert.equal(await page.inputValue(`${form} input[name="pod"]`), cfg.pods.web);
  let auth = null;
  const seen = (req) => {
    if (req.url().includes('/api/v1/capture')) auth = { url: req.url(), header: req.headers().authorization };
  };
  page.on('request', seen);
  try {
    await submitCapture(cfg.denied_token);
    await page.waitForFunction((f) => /403/.test(document.querySelector(`${f} .capture-status.error`)?.textContent ?? ''), form);
    const text = await captureStatus();
    assert.match(text, /^Capture refused: 403 Forbidden: /);
    assert.match(text, new RegExp(`cannot capture resource "pods".*in namespace "${ns}"`));
    assert.equal(auth.header, `Bearer ${cfg.denied_token}`, 'the token goes straight to the agent');
    const q = new URL(auth.url).searchParams;
    assert.deepEqual([q.get('namespace'), q.get('pod'), q.get('duration'), q.get('filter')],
      [ns, cfg.pods.web, cfg.capture.duration, cfg.capture.filter]);
    await submitCapture(cfg.bad_token);
    await page.waitForFunction((f) => /401/.test(document.querySelector(`${f} .capture-status.error`)?.textContent ?? ''), form);
    assert.match(await captureStatus(), /^Capture refused: 401 Unauthorized: .*token not accepted/);
  } finally {
    page.off('request', seen);
  }
  assert.equal(await page.getAttribute(`${form} .capture-status`, 'role'), 'alert');
  assert.equal(await page.isDisabled(`${form} button[type="submit"]`), false, 'the form can be sent again');
});

await step('a capture from the web pod\'s panel with the capture verb downloads the pod\'s packets as pcapng', async () => {
  // The same panel, still open.
  const t0 = Date.now();
  const download = page.waitForEvent('download', { timeout: 30000 });
  await submitCapture(cfg.token);
  await page.waitForFunction((f) => /^Capturing /.test(document.querySelector(`${f} .capture-status`).textContent), form);
  assert.equal(await page.isDisabled(`${form} button[type="submit"]`), true, 'one capture at a time from a form');
  // The Rust test waits until the agent captures, then curls the web pod.
  const made = await ask('capture-traffic');
  console.log(`     during the capture: ${made.http.map((x) => sig(x.method, x.target, x.status)).join(', ')}`);
  const dl = await download;
  const took = Date.now() - t0;
  assert.ok(took >= 3500, `the download came after ${took} ms, before the capture's ${cfg.capture.duration}`);
  const file = `podwire-${ns}_${cfg.pods.web}-`;
  assert.ok(dl.suggestedFilename().startsWith(file) && dl.suggestedFilename().endsWith('.pcapng'), dl.suggestedFilename());
  await dl.saveAs(cfg.download);
  const bytes = fs.readFileSync(cfg.download);
  assert.ok(bytes.length > 1000, `${bytes.length} bytes`);
  assert.equal(bytes.readUInt32LE(0), 0x0a0d0d0a, 'a pcapng section header block');
  await page.waitForFunction((f) => /^Saved /.test(document.querySelector(`${f} .capture-status`).textContent), form);
  assert.match(await captureStatus(), new RegExp(`^Saved ${file}.*\\.pcapng \\(`));
  console.log(`     ${dl.suggestedFilename()}: ${bytes.length} bytes after ${took} ms`);
});

// --- live updates ------------------------------------------------------------------

await step('live: a new conversation (client -> tls) appears on the open map without a reload', async () => {
  await open('level=pod');
  await page.waitForFunction(() => window.__podwire.live() === 'live', null, { timeout: 10000, polling: 50 });
  // The page re-reads once more just after subscribing (at most 2 s after
  // its first read), and then every 30 s without news: past the first, only
  // the stream's events can bring the new edge within the next 10 s.
  await page.waitForTimeout(3000);
  await ready();
  const settled = await P(() => window.__podwire.refreshes());
  await page.waitForTimeout(500);
  assert.equal(await P(() => window.__podwire.refreshes()), settled, 'the page is quiet before the new traffic');
  assert.ok(!(await model()).nodes.some((n) => n.id === podId('tls')));
  await P(() => {
    window.__sameDocument = true;
  });
  const made = await ask('tls');
  const t0 = Date.now();
  const edge = [podId('client'), podId('tls'), made.connections];
  await page.waitForFunction(([s, d, n]) => window.__podwire.model().edges.some((e) => e.source === s && e.target === d && e.stats.connections === n),
    edge, { timeout: 10000, polling: 100 });
  console.log(`     client -> tls on the map ${Date.now() - t0} ms after s_client finished`);
  assert.equal(await P(() => window.__sameDocument), true, 'the same document: not reloaded');
  await ready();
  const n = (await model()).nodes.find((x) => x.id === podId('tls'));
  assert.deepEqual([n.title, n.kind], [cfg.pods.tls, 'pod']);
  // Then the whole map is the agent's graph again (the last records'
  // events re-read it within the 2 s debounce).
  let last = null;
  for (let i = 0; i < 30; i++) {
    try {
      sameGraph(await model(), await api('/api/v1/graph?level=pod'));
      last = null;
      break;
    } catch (e) {
      last = e;
      await page.waitForTimeout(500);
    }
  }
  if (last) throw last;
  const e = (await model()).edges.find((x) => key(x) === edgeKey(podId('client'), podId('tls')));
  assert.deepEqual(e.protocols, ['tcp'], 'client -> tls protocols');
  assert.equal(await P(() => window.__podwire.live()), 'live');
  await page.click('#fit');
  await page.waitForTimeout(400);
  await shot('live-map.png');
});

lines.close();
process.stdin.destroy();
await t.finish();
