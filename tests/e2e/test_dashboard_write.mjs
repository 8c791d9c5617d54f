// Writing a tag from the dashboard (web/write.js) in headless Chromium:
// an operator signs in, opens a writable setpoint, writes it in two steps
// (value and reason, then confirm) and sees the read-back; the simulator's
// register changed and the audit trail has the write with the reason. A
// value above the tag's maximum is refused with the gate's message; a
// viewer sees no form, only which role may write; a tag without a write
// policy offers nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import {
  Airlock, Procs, freePortRange, provisionAdmin, repo, startSim, waitUntil,
} from './north_helpers.mjs';

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NS = 'e2e/site/area/line/tank';
const SETPOINT = `${NS}/high_sp`;
const LEVEL = `${NS}/level`;
const PASSWORD = 'dashboard-write-password-1';

function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch {
    return require(path.join(repo, 'node_modules', 'playwright-core'));
  }
}

// `airlock sim` serves the tank on base + 1 (docs/demo-plant.md); holding
// register 6 is free for a setpoint.
function gatewayYaml(tankPort) {
  return [
    'gateway: {name: dash-write, log_level: info}',
    'history: {enabled: false}',
    'write_gate: {enabled: true}',
    'devices:',
    '  - name: tank',
    '    protocol: modbus-tcp',
    '    host: 127.0.0.1',
    `    port: ${tankPort}`,
    '    unit_id: 1',
    '    namespace: e2e/site/area/line/tank',
    '    timeout_ms: 400',
    '    poll_groups:',
    '      - name: fast',
    '        interval_ms: 200',
    '        tags:',
    '          - {name: high_sp, area: holding, address: 6, type: uint16, unit: mm,',
    '             write: {role: operator, min: 100, max: 950, max_step: 500}}',
    '          - {name: level, area: holding, address: 0, type: float32, order: BADC}',
    '',
  ].join('\n');
}

test('an operator writes a setpoint from the dashboard; a viewer cannot', { timeout: 120000 }, async (t) => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing`);
  const { chromium } = loadPlaywright();
  const procs = new Procs();
  let browser = null;
  t.after(async () => {
    if (browser) await browser.close().catch(() => {});
    await procs.close();
  });
  const dir = procs.tempDir('airlock-e2e-dashwrite-');
  const base = await freePortRange(6);
  await startSim(procs, [], base, 6);
  const cfg = path.join(dir, 'gw.yaml');
  fs.writeFileSync(cfg, gatewayYaml(base + 1));
  const dataDir = path.join(dir, 'data');
  provisionAdmin(dataDir, { user: 'dash-operator', password: PASSWORD, role: 'operator' });
  provisionAdmin(dataDir, { user: 'dash-viewer', password: PASSWORD, role: 'viewer' });
  const gw = await new Airlock(procs, ['-c', cfg], { dataDir }).start(60000);
  await waitUntil(async () => {
    const r = await gw.get(`/api/v1/tags/${SETPOINT}`);
    return r.status === 200 && (await r.json()).quality === 'Good';
  }, 20000, 'setpoint Good');
  const tagInfo = await gw.json(`/api/v1/tags/${SETPOINT}`);
  assert.deepEqual(tagInfo.write, { role: 'operator', min: 100, max: 950, max_step: 500 });
  assert.equal((await gw.json(`/api/v1/tags/${LEVEL}`)).write, null, 'no policy: no write offered');
  const before = tagInfo.value;
  const target = before === 400 ? 450 : 400;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });

  async function signIn(user) {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text()); });
    await page.goto(gw.base + '/', { waitUntil: 'load' });
    await page.fill('#login-user', user);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-submit');
    await page.locator('#login').waitFor({ state: 'hidden', timeout: 10000 });
    await page.locator(`[data-path="${SETPOINT}"]`).waitFor({ timeout: 20000 });
    return { page, problems };
  }

  // The operator: open the setpoint's panel, write in two steps.
  const { page, problems } = await signIn('dash-operator');
  await page.click(`[data-path="${SETPOINT}"]`);
  await page.locator('#write-form').waitFor({ state: 'visible', timeout: 10000 });
  assert.match(await page.locator('#write-limits').textContent(), /100 to 950 mm.*role operator/);
  await page.fill('#write-value', String(target));
  await page.click('#write-submit'); // no reason yet
  assert.match(await page.locator('#write-result').textContent(), /reason is required/);
  await page.fill('#write-reason', 'dashboard e2e: raise the high setpoint');
  await page.click('#write-submit');
  assert.match(await page.locator('#write-submit').textContent(), new RegExp(`Confirm: write ${target} mm`));
  await page.click('#write-submit');
  await page.waitForFunction(() => /Written|differs|Refused/.test(document.getElementById('write-result').textContent),
    null, { timeout: 15000 });
  const shown = await page.locator('#write-result').textContent();
  assert.match(shown, new RegExp(`Written: read back ${target} \\(Good\\)`), shown);
  await waitUntil(async () => (await gw.json(`/api/v1/tags/${SETPOINT}`)).value === target, 10000,
    'the setpoint reads the new value');
  const records = (await gw.json(`/api/v1/audit?action=write&object=${SETPOINT}`)).records;
  assert.equal(records[0].actor, 'dash-operator');
  assert.equal(records[0].reason, 'dashboard e2e: raise the high setpoint');
  assert.equal(records[0].new_value, String(target));
  assert.equal(records[0].outcome, 'ok');

  // Above the maximum: the gate refuses, the page says why, nothing written.
  await page.fill('#write-value', '5000');
  await page.fill('#write-reason', 'too high on purpose');
  await page.click('#write-submit');
  await page.click('#write-submit');
  await page.waitForFunction(() => /Refused/.test(document.getElementById('write-result').textContent),
    null, { timeout: 15000 });
  assert.match(await page.locator('#write-result').textContent(), /refused_above_max.*maximum 950/);
  assert.equal((await gw.json(`/api/v1/tags/${SETPOINT}`)).value, target);
  assert.deepEqual(problems, [], problems.join('\n'));
  await page.close();

  // The viewer: no form, a note naming the role that may write.
  const viewer = await signIn('dash-viewer');
  await viewer.page.click(`[data-path="${SETPOINT}"]`);
  await viewer.page.locator('#write-note').waitFor({ state: 'visible', timeout: 10000 });
  assert.match(await viewer.page.locator('#write-note').textContent(), /role operator or above; you are viewer/);
  assert.equal(await viewer.page.locator('#write-form').isVisible(), false);
  // A tag without a policy: neither form nor note.
  await viewer.page.click(`[data-path="${LEVEL}"]`);
  await viewer.page.waitForTimeout(500);
  assert.equal(await viewer.page.locator('#write-form').isVisible(), false);
  assert.equal(await viewer.page.locator('#write-note').isVisible(), false);
  assert.deepEqual(viewer.problems, [], viewer.problems.join('\n'));
});
