// The dashboard in a real browser (headless Chromium through playwright-core):
// `airlock run` serves the demo plant; the page must list a row per tag
// (data-path), show numbers and Good quality, update live over server-sent
// events, open a tag's trend chart on click (an SVG line drawn from the
// history API, range buttons, a tooltip with UTC), and log no console errors
// (CSP violations included). A screenshot
// goes to /tmp/airlock-dashboard.png for humans; pixels are not asserted.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_dashboard.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = process.env.AIRLOCK_SRC || path.resolve(here, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = '/tmp/airlock-dashboard.png';
const KNOWN_TAG = 'acme/plant1/utilities/pumping/skid1/flow';

function airlockBin() {
  if (process.env.AIRLOCK_BIN) return process.env.AIRLOCK_BIN;
  for (const d of ['build-test', 'build', 'build-e2e']) {
    const p = path.join(repo, d, 'airlock');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('set AIRLOCK_BIN to the airlock executable');
}

function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch {
    return require(path.join(repo, 'node_modules', 'playwright-core'));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves true when port can be bound on 127.0.0.1 right now.
function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// The first of count consecutive free ports, from a random base (ctest runs
// two jobs at once), below Linux's ephemeral ports (32768 and up).
async function freePortRange(count) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

async function waitUntil(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last}`);
    await sleep(100);
  }
}

// The session cookie of the test's own API calls (set after logging in).
let cookie = '';

async function getJson(base, p) {
  const r = await fetch(base + p, { headers: cookie ? { Cookie: cookie } : {} });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

// A leading number in a cell's text ("21.4 degC", "-3", "1,234.5").
function numberIn(text) {
  const m = /[-+]?\d[\d,]*(\.\d+)?([eE][-+]?\d+)?/.exec(text || '');
  return m ? Number(m[0].replace(/,/g, '')) : NaN;
}

test('dashboard lists every tag, shows Good numbers and updates live', { timeout: 120000 }, async (t) => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install -y --no-install-recommends chromium`);
  const { chromium } = loadPlaywright();
  const httpPort = await freePort();
  const simBase = await freePortRange(16);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-e2e-dash-'));
  const base = `http://127.0.0.1:${httpPort}`;

  let stderr = '';
  const gw = spawn(airlockBin(), ['run', '--sim-port-base', String(simBase),
    '--http', `127.0.0.1:${httpPort}`, '--data', dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  gw.stderr.on('data', (d) => { stderr += d.toString(); });
  let exited = null;
  gw.on('exit', (code, signal) => { exited = { code, signal }; });
  process.on('exit', () => { if (exited === null) gw.kill('SIGKILL'); }); // never outlive the test

  let browser = null;
  t.after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (exited === null) {
      gw.kill('SIGTERM');
      const deadline = Date.now() + 3000;
      while (exited === null && Date.now() < deadline) await sleep(50);
      if (exited === null) gw.kill('SIGKILL');
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  await waitUntil(async () => {
    if (exited) throw new Error(`airlock exited ${JSON.stringify(exited)}: ${stderr.slice(-2000)}`);
    const r = await fetch(`${base}/api/v1/health`);
    return r.status === 200;
  }, 30000, 'airlock HTTP');

  // The demo creates user admin with a one-time password it prints once.
  const m = /one-time password\s+(\S+)/.exec(stderr);
  assert.ok(m, `the demo printed no one-time admin password:\n${stderr.slice(-2000)}`);
  const password = m[1];
  // Anonymous: health says only whether the gateway is well; data is refused.
  const anon = await (await fetch(`${base}/api/v1/health`)).json();
  assert.equal(anon.devices, undefined, 'anonymous health must not list devices');
  assert.equal((await fetch(`${base}/api/v1/tags`)).status, 401);
  const login = await fetch(`${base}/api/v1/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: 'admin', password }),
  });
  assert.equal(login.status, 200, 'API login with the one-time password');
  const setCookie = login.headers.get('set-cookie') || '';
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  cookie = setCookie.split(';')[0];
  const tags = await waitUntil(async () => {
    const body = await getJson(base, '/api/v1/tags');
    return body.tags.length && body.tags.every((x) => x.quality === 'Good') ? body.tags : null;
  }, 20000, 'demo tags Good');

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    // Before logging in the page asks who is signed in: a 401 is the answer.
    if (r.status() === 401 && r.url().endsWith('/api/v1/session')) return;
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });

  // CSP violations also show as console errors; record them directly too.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await page.goto(base + '/', { waitUntil: 'load' });

  // The login form first; a wrong password is refused with a message.
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: 10000 });
  await page.fill('#login-user', 'admin');
  await page.fill('#login-password', 'not-the-password');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0,
    null, { timeout: 10000 });
  problems.splice(0, problems.length); // the deliberate 401 of the wrong password
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.locator('#login').waitFor({ state: 'hidden', timeout: 10000 });
  assert.match(await page.locator('#user-pill').textContent(), /admin/);

  // A row per tag.
  await page.waitForFunction((n) => document.querySelectorAll('[data-path]').length >= n,
    tags.length, { timeout: 20000 });
  const paths = await page.$$eval('[data-path]', (rows) => rows.map((r) => r.getAttribute('data-path')));
  for (const tag of tags) assert.ok(paths.includes(tag.path), `no row for ${tag.path}`);

  // A known numeric tag: its value cell is a number and its quality Good.
  // The pump's flow (docs/demo-plant.md); any numeric tag if the plant changed.
  const numeric = tags.find((x) => x.path === KNOWN_TAG) || tags.find((x) => x.type === 'double');
  assert.ok(numeric, 'the demo plant has numeric tags');
  const row = page.locator(`[data-path="${numeric.path}"]`);
  await waitUntil(async () => {
    const v = await row.locator('.value').first().textContent();
    return Number.isFinite(numberIn(v));
  }, 10000, `a number in the value cell of ${numeric.path}`);
  const quality = await row.locator('.quality').first().textContent();
  assert.match(quality, /Good/, `quality cell of ${numeric.path}: ${quality}`);

  // Live updates: some value cell changes without reloading the page.
  const before = await page.$$eval('[data-path] .value', (cells) => cells.map((c) => c.textContent));
  await page.waitForFunction((old) => {
    const now = [...document.querySelectorAll('[data-path] .value')].map((c) => c.textContent);
    return now.some((v, i) => v !== old[i]);
  }, before, { timeout: 15000 });

  // Trend chart: clicking the tag's row opens it; the line has points from
  // the aggregate history; range buttons switch; the tooltip shows UTC.
  assert.equal(await page.locator('#trend').isHidden(), true, 'the chart starts closed');
  await row.locator('.name').first().click();
  await page.waitForSelector('#trend:not([hidden])', { timeout: 5000 });
  assert.equal(await page.locator('#trend-title').textContent(), numeric.path);
  await page.locator('.trend-range[data-range="15 min"]').click();
  assert.equal(await page.locator('.trend-range[data-range="15 min"]').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator('.trend-range[data-range="1 h"]').getAttribute('aria-pressed'), 'false');
  await page.waitForFunction(() => {
    const line = document.querySelector('#trend svg.trend-svg path.trend-line');
    return line && Number(line.dataset.points) >= 2 && /L/.test(line.getAttribute('d'));
  }, null, { timeout: 20000 });
  const band = await page.locator('#trend path.trend-band').getAttribute('d');
  assert.match(band, /^M[\d.]+,[\d.]+/, 'a min/max band is drawn');
  const box = await page.locator('#trend svg.trend-svg').boundingBox();
  await page.mouse.move(box.x + box.width - 30, box.y + box.height / 2);
  await page.waitForSelector('#trend-tooltip:not([hidden])', { timeout: 5000 });
  assert.match(await page.locator('#trend-tooltip').textContent(), /\(UTC\)/);
  // Live for short ranges: more buckets fill in without a click.
  const pointsBefore = Number(await page.locator('#trend path.trend-line').getAttribute('data-points'));
  await page.waitForFunction((n) => {
    const line = document.querySelector('#trend path.trend-line');
    return line && Number(line.dataset.points) > n;
  }, pointsBefore, { timeout: 20000 });
  // A year renders too (daily buckets: today has data).
  await page.locator('.trend-range[data-range="1 y"]').click();
  await page.waitForFunction(() => {
    const s = document.querySelector('#trend-status');
    return s && /buckets of 1 d have data/.test(s.textContent);
  }, null, { timeout: 20000 });

  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#trend[hidden]', { state: 'attached', timeout: 5000 });
  const csp = await page.evaluate(() => window.__cspViolations);
  for (const v of csp) problems.push(`CSP violation: ${v}`);
  assert.deepEqual(problems, [], `the page logged errors:\n${problems.join('\n')}`);

  // Logging out ends the session: the form is back and the cookie is dead.
  const browserCookie = (await page.context().cookies()).find((c) => c.name === 'airlock_session');
  assert.ok(browserCookie && browserCookie.httpOnly, 'the browser holds an HttpOnly session cookie');
  await page.click('#logout');
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: 10000 });
  const after = await fetch(`${base}/api/v1/tags`, { headers: { Cookie: `airlock_session=${browserCookie.value}` } });
  assert.equal(after.status, 401, 'a logged-out session is refused');

  // Clean stop.
  gw.kill('SIGTERM');
  await waitUntil(() => exited !== null, 5000, 'airlock exit after SIGTERM');
  assert.equal(exited.code, 0, `exit ${JSON.stringify(exited)}: ${stderr.slice(-2000)}`);
  assert.ok(!/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(stderr), `sanitizer report:\n${stderr.slice(-4000)}`);
});
