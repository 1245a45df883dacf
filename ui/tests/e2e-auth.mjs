// The UI against an agent that guards its records (a token file): the page
// asks for a token, says why a wrong one was refused, works with the right
// one (the status, the map) and keeps it in memory only. (The live stream
// goes through the same request code, so it sends the token too; the
// stream itself is exercised against a live agent by e2e-live.mjs.)
//
//   node ui/tests/e2e-auth.mjs CAPTURE OUT_DIR
//
// Starts `podwire read CAPTURE --serve --api-token-file` itself
// ($PODWIRE_BIN). Exit status 0 when every check passed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serveCaptures } from './lib.mjs';

const [capture, outDir] = process.argv.slice(2);
if (!capture || !outDir || !process.env.PODWIRE_BIN) {
  console.error('usage: PODWIRE_BIN=... node e2e-auth.mjs CAPTURE OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const TOKEN = 'ui-reader-' + Math.random().toString(36).slice(2);
const tokens = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'podwire-ui-')), 'tokens');
fs.writeFileSync(tokens, `${TOKEN} ui-test\n`);
const server = await serveCaptures(process.env.PODWIRE_BIN, [capture], ['--api-token-file', tokens]);
const base = server.base;

const failures = [];
async function step(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
const sent = [];
page.on('request', (r) => sent.push({ url: r.url(), token: r.headers()['x-podwire-token'] || null }));

await step('without a token the API refuses and the page asks for one', async () => {
  const res = await fetch(`${base}/api/v1/graph`);
  assert.equal(res.status, 401);
  await page.goto(`${base}/ui/`);
  await page.waitForSelector('#token-dialog[open]', { timeout: 15000 });
  assert.match(await page.textContent('#token-dialog'), /needs a bearer token/);
});

await step('a wrong token is refused, and the dialog says why', async () => {
  await page.fill('#token-input', 'not-the-token');
  await page.click('#token-dialog button[type=submit]');
  await page.waitForFunction(() => {
    const d = document.querySelector('#token-dialog[open]');
    return d && /unknown token/.test(d.textContent);
  }, null, { timeout: 15000 });
});

await step('the right token loads the map and tells a capture file from a live agent', async () => {
  await page.fill('#token-input', TOKEN);
  await page.click('#token-dialog button[type=submit]');
  await page.waitForFunction(() => window.__podwire && window.__podwire.ready(), null, { timeout: 30000 });
  const m = await page.evaluate(() => window.__podwire.model());
  const g = await (await fetch(`${base}/api/v1/graph?level=workload`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
  assert.equal(m.nodes.length, g.nodes.length);
  assert.ok(m.nodes.length > 0);
  // The status (guarded too) was read with the token: the page knows this
  // server serves a capture file, so it opens no stream.
  assert.ok(await page.evaluate(() => window.__podwire.captureEnd()), 'the status said: a capture file');
  assert.equal(await page.evaluate(() => window.__podwire.live()), 'off');
  assert.equal(await page.$('#token-dialog[open]'), null, 'no dialog once the token works');
  await page.screenshot({ path: path.join(outDir, 'token-accepted.png') });
});

await step('every API request after that carries the token', async () => {
  const api = sent.filter((r) => new URL(r.url).pathname.startsWith('/api/v1/'));
  const last = api.slice(api.findLastIndex((r) => r.token === 'not-the-token') + 1);
  assert.ok(last.length >= 3, JSON.stringify(api));
  for (const r of last) assert.equal(r.token, TOKEN, r.url);
});

await step('the token is kept in memory only: not in storage, cookies or the URL', async () => {
  const kept = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie + location.href);
  assert.ok(!kept.includes(TOKEN), kept);
  assert.deepEqual(await page.context().cookies(), []);
  // A reload forgets it: the page asks again.
  await page.reload();
  await page.waitForSelector('#token-dialog[open]', { timeout: 15000 });
});

await step('cancelling leaves a clear message, not a broken page', async () => {
  await page.click('#token-dialog button[value=cancel]');
  await page.waitForFunction(() => /401/.test(document.querySelector('#banner')?.textContent || ''), null, { timeout: 15000 });
  assert.deepEqual(errors, []);
});

await browser.close();
server.close();
if (failures.length) {
  console.log(`${failures.length} failed: ${failures.join('; ')}`);
  process.exit(1);
}
