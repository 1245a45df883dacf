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
import { spawn } from 'node:child_process';
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

// --- captures and a second server ------------------------------------------------

// The Internet checksum of `buf` (RFC 1071), starting from `sum`.
function checksum(buf, sum = 0) {
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// The packets of a little-endian microsecond pcap on Ethernet (what the
// parser crates' fixtures are): {sec, usec, data, orig}.
function pcapPackets(buf) {
  assert.equal(buf.readUInt32LE(0), 0xa1b2c3d4, 'a little-endian microsecond pcap');
  assert.equal(buf.readUInt32LE(20), 1, 'an Ethernet capture');
  const out = [];
  for (let at = 24; at + 16 <= buf.length;) {
    const len = buf.readUInt32LE(at + 8);
    out.push({ sec: buf.readUInt32LE(at), usec: buf.readUInt32LE(at + 4), orig: buf.readUInt32LE(at + 12), data: Buffer.from(buf.subarray(at + 16, at + 16 + len)) });
    at += 16 + len;
  }
  return out;
}

// Moves a loopback capture's TCP/IPv4 conversations onto addresses of their
// own: the side on `port` becomes `server`, the other `client` (checksums
// recomputed). The fixtures all ran on 127.0.0.1, which the map draws as
// one node talking to itself; moved, each protocol is an edge.
function relocate(packets, port, client, server) {
  const ip4 = (s) => Buffer.from(s.split('.').map(Number));
  for (const p of packets) {
    const d = p.data;
    if (d.length < 34 || d.readUInt16BE(12) !== 0x0800 || d[23] !== 6) continue;
    const ihl = (d[14] & 0x0f) * 4;
    const tcp = 14 + ihl;
    const [sport, dport] = [d.readUInt16BE(tcp), d.readUInt16BE(tcp + 2)];
    if (sport !== port && dport !== port) continue;
    ip4(sport === port ? server : client).copy(d, 26);
    ip4(sport === port ? client : server).copy(d, 30);
    d.writeUInt16BE(0, 24);
    d.writeUInt16BE(checksum(d.subarray(14, tcp)), 24);
    const total = d.readUInt16BE(16);
    if (p.orig !== d.length || 14 + total > d.length) continue; // cut short: the TCP checksum cannot be computed
    const seg = d.subarray(tcp, 14 + total);
    seg.writeUInt16BE(0, 16);
    const pseudo = Buffer.concat([d.subarray(26, 34), Buffer.from([0, 6, seg.length >> 8, seg.length & 0xff])]);
    seg.writeUInt16BE(checksum(seg, 0xffff - checksum(pseudo)), 16);
  }
  return packets;
}

// Writes one pcap of `parts` ({file, port, client, server}), each moved by
// `relocate`, merged in time order.
export function mergeCaptures(parts, out) {
  const all = parts.flatMap((x) => relocate(pcapPackets(fs.readFileSync(x.file)), x.port, x.client, x.server));
  all.sort((a, b) => a.sec - b.sec || a.usec - b.usec);
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  const recs = all.map((p) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(p.sec, 0);
    h.writeUInt32LE(p.usec, 4);
    h.writeUInt32LE(p.data.length, 8);
    h.writeUInt32LE(p.orig, 12);
    return Buffer.concat([h, p.data]);
  });
  fs.writeFileSync(out, Buffer.concat([head, ...recs]));
}

// The podwire binary: `$PODWIRE_BIN`, else that of the process listening
// on `base`'s port (under the Rust test `ui`, its `podwire read --serve`;
// other tests running beside it may run other podwire processes).
export function podwireBinary(base) {
  if (process.env.PODWIRE_BIN) return process.env.PODWIRE_BIN;
  const port = Number(new URL(base).port);
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 the inode.
      if (f.length > 9 && parseInt(f[1].split(':')[1], 16) === port && f[3] === '0A') inodes.add(`socket:[${f[9]}]`);
    }
  }
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readdirSync(`/proc/${pid}/fd`).some((fd) => inodes.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)))) {
        // That very file, even if a build has replaced it since.
        return `/proc/${pid}/exe`;
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return null;
}

// `podwire read FILE... --serve 127.0.0.1:0 EXTRA...`: {base, close()};
// stopped when this process exits.
export async function serveCaptures(bin, files, extra = []) {
  const child = spawn(bin, ['read', ...files, '--serve', '127.0.0.1:0', '--threads', '1', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  process.on('exit', () => child.kill());
  let log = '';
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not serving after 20 s: ${log}`)), 20000);
    child.stderr.on('data', (d) => {
      log += d;
      const m = /serving (http:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`podwire exited (${code}): ${log}`));
    });
  });
  return { base, close: () => child.kill() };
}

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

  // An API answer, of the page's server or another (`at`).
  async function api(p, at = base) {
    const res = await fetch(new URL(p, at));
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
  async function open(hash = '', at = base) {
    // A new document each time (a URL differing only in its fragment would
    // not load one): the query string differs, the page ignores it.
    await page.goto(`${at}/ui/?load=${++opened}${hash ? '#' + hash : ''}`);
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
    // The view may still be gliding to fit the settled layout: wait until it
    // holds still, so the point aimed at is the point clicked.
    let view = await P(() => window.__podwire.view());
    for (let i = 0; i < 40; i++) {
      await page.waitForTimeout(80);
      const now = await P(() => window.__podwire.view());
      if (now.k === view.k && now.x === view.x && now.y === view.y) break;
      view = now;
    }
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
