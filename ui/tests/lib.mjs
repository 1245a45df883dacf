// What the browser tests share: a headless Chromium page on the UI, named
// steps that also fail on anything the page reports (console errors, CSP
// violations, failed loads), and helpers that read the page's test hook
// (window.__podwire) and click what it draws.
//
//   const t = await start(BASE_URL, OUT_DIR);
//   await t.step('name', async () => { await t.open('level=pod'); ... });
//   await t.finish(); // exits 1 when a step failed
//
// Used by e2e.mjs (against `read --serve`) and e2e-live.mjs (against a live
// agent in the lab).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

// --- pure helpers --------------------------------------------------------------

export const key = (e) => `${e.source} -> ${e.target}`;

// Floats summed in another order differ in the last bits.
export function close(a, b, what) {
  for (const k of Object.keys(b)) {
    if (typeof b[k] === 'number') assert.ok(Math.abs(a[k] - b[k]) <= 1e-9 * Math.max(1, Math.abs(b[k])), `${what}.${k}: ${a[k]} != ${b[k]}`);
    else assert.deepEqual(a[k], b[k], `${what}.${k}`);
  }
}

// The rendered model against an API graph: same nodes, edges and numbers.
export function sameGraph(m, g) {
  assert.equal(m.level, g.level);
  assert.deepEqual(m.nodes.map((n) => n.id).sort(), g.nodes.map((n) => n.id).sort(), 'node ids');
  for (const n of g.nodes) {
    const r = m.nodes.find((x) => x.id === n.id);
    assert.equal(r.title, n.title, `${n.id} title`);
    close(r.inbound, n.inbound, `${n.id} inbound`);
    close(r.outbound, n.outbound, `${n.id} outbound`);
  }
  assert.deepEqual(m.edges.map(key).sort(), g.edges.map(key).sort(), 'edges');
  for (const e of g.edges) {
    const r = m.edges.find((x) => key(x) === key(e));
    assert.deepEqual(r.protocols, e.protocols, `${key(e)} protocols`);
    close(r.stats, e.stats, `${key(e)} stats`);
  }
}

export function parseCSV(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  return rows;
}

export function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(s.length * q))];
  return { n: s.length, median: at(0.5), p95: at(0.95), max: s[s.length - 1] };
}
export const ms = (x) => `${x.toFixed(1)} ms`;

// --- the page --------------------------------------------------------------------

export async function start(base, outDir) {
  fs.mkdirSync(outDir, { recursive: true });
  const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

  const failures = [];
  const problems = []; // console errors, CSP violations, failed loads: checked per step

  async function step(name, fn) {
    const t0 = Date.now();
    problems.length = 0;
    try {
      await fn();
      assert.deepEqual(problems, [], 'the page reported problems');
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failures.push(name);
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  }

  async function api(p) {
    const res = await fetch(new URL(p, base));
    assert.equal(res.status, 200, `GET ${p}`);
    return res.json();
  }

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/\/api\/v1\/capture/.test(m.location().url || '') && !/404 \(Not Found\)/.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (r.status() >= 400 && !u.pathname.endsWith('/api/v1/capture')) problems.push(`${r.status()} for ${u.pathname}`);
  });

  const P = (fn, arg) => page.evaluate(fn, arg);

  let opened = 0;
  async function open(hash = '') {
    // A new document each time (a URL differing only in its fragment would
    // not load one): the query string differs, the page ignores it.
    await page.goto(`${base}/ui/?load=${++opened}${hash ? '#' + hash : ''}`);
    await ready();
  }

  // The page has data, is not loading and its layout has settled.
  async function ready(timeout = 30000) {
    await page.waitForFunction(() => window.__podwire && window.__podwire.ready(), null, { timeout, polling: 50 });
  }

  // Runs `act` (which changes something that rebuilds the model) and waits
  // for the rebuild.
  async function rebuilt(act) {
    const before = await P(() => window.__podwire.builds());
    await act();
    await page.waitForFunction((b) => window.__podwire.builds() > b && window.__podwire.ready(), before, { polling: 50 });
  }

  async function panelLoaded() {
    await page.waitForFunction(() => {
      const p = window.__podwire.panel();
      return p.target && !p.loading;
    }, null, { polling: 50 });
    return P(() => window.__podwire.panel());
  }

  async function clickItem(id) {
    const pt = await P((i) => window.__podwire.point(i), id);
    assert.ok(pt, `${id} is drawn`);
    const hit = await P(([x, y]) => window.__podwire.hit(x, y), [pt.x, pt.y]);
    assert.equal(hit && hit.id, id, `what is under ${id}'s point`);
    await page.mouse.click(pt.x, pt.y);
  }

  const model = () => P(() => window.__podwire.model());

  async function downloadOf(selector) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
    return { name: dl.suggestedFilename(), text: fs.readFileSync(await dl.path(), 'utf8') };
  }

  const shot = (name) => page.screenshot({ path: path.join(outDir, name) });

  async function finish() {
    await browser.close();
    if (failures.length) {
      console.log(`${failures.length} failed: ${failures.join('; ')}`);
      process.exit(1);
    }
    console.log('all passed');
  }

  return {
    base, outDir, browser, context, page, failures, problems,
    step, api, P, open, ready, rebuilt, panelLoaded, clickItem, model, downloadOf, shot, finish,
  };
}
