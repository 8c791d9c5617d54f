// Publishing as a Unified Namespace (docs/north.md, "UNS JSON"): `airlock
// run --mqtt URL` publishes the demo plant to a mosquitto started here; an
// MQTT.js subscriber must get uns/<path> for every tag with {value,
// timestamp (epoch ms), quality}, values as /api/v1/tags has them, per tag in
// time order; retained metadata on uns-meta/<path>; the publisher connected
// in /api/v1/health; /metrics counting published values. Then bad input: a
// broker where nothing listens and a broker refusing our credentials leave
// the publisher not connected with a last_error while polling goes on.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_north_uns.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  Airlock, Broker, Procs, freePort, freePortRange, metricValue, northYaml, simConfig, sleep,
  startSim, subscriber, waitUntil,
} from './north_helpers.mjs';

const PLANT_PORTS = 16; // the demo plant's devices fit in this many ports

// Every UNS value message of a subscriber, parsed: [{path, body, at}].
function unsValues(client, prefix = 'uns/') {
  return client.messages.filter((m) => m.topic.startsWith(prefix)).map((m) => ({
    path: m.topic.slice(prefix.length), body: JSON.parse(m.payload.toString('utf8')), retain: m.retain,
  }));
}

// Equality of a UNS value and an API value (doubles as JSON numbers both).
function sameValue(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-9 * Math.abs(b);
  return a === b;
}

test('UNS JSON: every tag on uns/<path>, values as the API, metadata retained, status', { timeout: 180000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const broker = await new Broker(procs).start();
  const sub = await subscriber(procs, broker.url(), ['uns/#', 'uns-meta/#']);
  const simBase = await freePortRange(PLANT_PORTS);
  const gw = await new Airlock(procs, ['--mqtt', broker.url(), '--sim-port-base', String(simBase)]).start();

  const tags = await waitUntil(async () => {
    const all = await gw.tags();
    const list = Object.values(all);
    return list.length && list.every((x) => x.quality === 'Good') ? all : null;
  }, 30000, 'demo tags Good');
  const paths = Object.keys(tags);

  // Every tag arrives on its own topic.
  await waitUntil(() => {
    const seen = new Set(unsValues(sub).map((v) => v.path));
    const missing = paths.filter((p) => !seen.has(p));
    return missing.length === 0 ? true : (missing.length < 8 ? `missing ${missing}` : false);
  }, 30000, 'a uns/<path> message for every tag');

  // Let a few seconds of changes arrive, then compare with the API.
  await sleep(3000);
  const apiNow = await gw.tags();
  await sleep(1500); // messages published up to the API read have arrived
  const values = unsValues(sub);
  const byPath = new Map();
  for (const v of values) {
    assert.ok(!v.path.includes('+') && !v.path.includes('#'), `wildcard in topic uns/${v.path}`);
    assert.ok(Object.hasOwn(tags, v.path), `uns/${v.path} is no tag of /api/v1/tags`);
    assert.deepEqual(Object.keys(v.body).sort(), ['quality', 'timestamp', 'value'],
      `payload keys of uns/${v.path}: ${JSON.stringify(v.body)}`);
    assert.equal(typeof v.body.timestamp, 'number', `timestamp is epoch ms: ${JSON.stringify(v.body)}`);
    assert.ok(Number.isInteger(v.body.timestamp), `timestamp is integral ms: ${v.body.timestamp}`);
    assert.ok(Math.abs(v.body.timestamp - Date.now()) < 600000, `timestamp near now: ${v.body.timestamp}`);
    assert.equal(typeof v.body.quality, 'string');
    assert.equal(v.retain, false, `uns/${v.path} retained although retain is false by default`);
    if (!byPath.has(v.path)) byPath.set(v.path, []);
    byPath.get(v.path).push(v.body);
  }
  let compared = 0;
  for (const [p, list] of byPath) {
    const api = apiNow[p];
    const type = api.type;
    for (let i = 1; i < list.length; i++) {
      assert.ok(list[i].timestamp > list[i - 1].timestamp,
        `uns/${p}: timestamps not strictly increasing: ${list[i - 1].timestamp} then ${list[i].timestamp}`);
    }
    for (const b of list) {
      const want = { bool: 'boolean', string: 'string' }[type] || 'number';
      if (b.value !== null) assert.equal(typeof b.value, want, `uns/${p} (${type}) value ${JSON.stringify(b.value)}`);
    }
    // The API's current sample went out with the same timestamp and value.
    const same = list.find((b) => b.timestamp === api.timestamp_ms);
    assert.ok(same, `uns/${p}: no message with the API's timestamp ${api.timestamp_ms} (${api.timestamp});`
      + ` last ones: ${JSON.stringify(list.slice(-3))}`);
    assert.ok(sameValue(same.value, api.value), `uns/${p}: value ${same.value}, API says ${api.value}`);
    assert.equal(same.quality, api.quality, `uns/${p}: quality`);
    compared++;
  }
  assert.equal(compared, paths.length);
  // Changing tags publish on change: the plant's analog values did change.
  const changing = [...byPath.values()].filter((l) => l.length > 1).length;
  assert.ok(changing >= 5, `only ${changing} tags published more than once in ~5 s`);

  // Metadata, retained: a new subscriber gets it for every tag.
  const late = await subscriber(procs, broker.url(), ['uns-meta/#']);
  const meta = await waitUntil(() => {
    const got = new Map(late.messages.map((m) => [m.topic.slice('uns-meta/'.length), m]));
    return paths.every((p) => got.has(p)) ? got : null;
  }, 10000, 'retained uns-meta/<path> for every tag');
  for (const p of paths) {
    const m = meta.get(p);
    assert.equal(m.retain, true, `uns-meta/${p} not retained`);
    const body = JSON.parse(m.payload.toString('utf8'));
    for (const k of ['path', 'type', 'unit', 'description', 'device']) {
      assert.ok(Object.hasOwn(body, k), `uns-meta/${p} lacks ${k}: ${JSON.stringify(body)}`);
    }
    assert.equal(body.path, p);
    assert.equal(body.type, tags[p].type, `uns-meta/${p} type`);
    assert.equal(body.unit ?? '', tags[p].unit ?? '', `uns-meta/${p} unit`);
    assert.equal(body.description ?? '', tags[p].description ?? '', `uns-meta/${p} description`);
  }

  // Status: connected in health, counted in /metrics.
  const received = unsValues(sub).length;
  const pub = await gw.publisher('cli');
  assert.equal(pub.kind, 'uns');
  assert.equal(pub.state, 'connected', JSON.stringify(pub));
  assert.equal(pub.url, broker.url());
  assert.ok(pub.published >= received, `health published ${pub.published} < received ${received}`);
  assert.equal(pub.dropped, 0);
  assert.equal((await gw.health()).status, 'ok', 'gateway status with a connected publisher');
  const text = await gw.metrics();
  const publishedMetric = metricValue(text, 'airlock_north_published_total', { publisher: 'cli' });
  assert.ok(publishedMetric >= received, `airlock_north_published_total ${publishedMetric} < received ${received}`);
  assert.equal(metricValue(text, 'airlock_north_connected', { publisher: 'cli' }), 1);
  assert.equal(metricValue(text, 'airlock_north_dropped_samples_total', { publisher: 'cli' }), 0);
  for (const name of ['airlock_north_spooled_samples', 'airlock_north_spool_bytes', 'airlock_north_reconnects_total']) {
    assert.notEqual(metricValue(text, name, { publisher: 'cli' }), undefined, `${name} missing from /metrics`);
  }

  await gw.stop();
  gw.assertCleanStderr();
});

// Polling goes on while the publisher cannot connect; health says why.
async function assertRefusedButPolling(gw, name) {
  const pub = await waitUntil(async () => {
    const p = await gw.publisher(name);
    return p.last_error ? p : null;
  }, 20000, `a last_error for publisher ${name}`);
  assert.notEqual(pub.state, 'connected', JSON.stringify(pub));
  assert.equal(typeof pub.last_error, 'string');
  assert.ok(pub.last_error_time, `last_error_time with the error: ${JSON.stringify(pub)}`);
  assert.equal((await gw.health()).status, 'degraded', 'a publisher not connected degrades the gateway');
  assert.equal(metricValue(await gw.metrics(), 'airlock_north_connected', { publisher: name }), 0);
  const before = await gw.tags();
  const p0 = Object.keys(before).find((p) => p.endsWith('skid1/flow'));
  assert.ok(p0, 'the demo plant has skid1/flow');
  await waitUntil(async () => (await gw.tags())[p0].timestamp_ms > before[p0].timestamp_ms,
    10000, 'polling continues (skid1/flow timestamp advances)');
}

test('a broker where nothing listens: not connected, last_error, polling goes on', { timeout: 90000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const deadPort = await freePort(); // nothing listens here
  const simBase = await freePortRange(PLANT_PORTS);
  const gw = await new Airlock(procs, ['--mqtt', `mqtt://127.0.0.1:${deadPort}`,
    '--sim-port-base', String(simBase)]).start();
  await assertRefusedButPolling(gw, 'cli');
  await gw.stop();
  gw.assertCleanStderr();
});

test('a broker refusing our credentials: not connected, last_error, polling goes on', { timeout: 90000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const dir = procs.tempDir('airlock-e2e-north-auth-');
  const pwFile = path.join(dir, 'passwords');
  const r = spawnSync('mosquitto_passwd', ['-b', '-c', pwFile, 'plant', 'right-password'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mosquitto_passwd: ${r.stderr}`);
  const broker = await new Broker(procs, { anonymous: false, extraConf: [`password_file ${pwFile}`] }).start();
  fs.writeFileSync(path.join(dir, 'wrong.pass'), 'wrong-password\n', { mode: 0o600 });

  const simBase = await freePortRange(PLANT_PORTS);
  await startSim(procs, [], simBase, 6);
  const yaml = simConfig(['--port-base', String(simBase)]) + northYaml([{
    name: 'uns-auth', kind: 'uns', url: broker.url(), username: 'plant',
    password_file: path.join(dir, 'wrong.pass'), qos: 1,
  }]);
  const cfg = path.join(dir, 'airlock.yaml');
  fs.writeFileSync(cfg, yaml);
  const gw = await new Airlock(procs, ['-c', cfg]).start();
  await assertRefusedButPolling(gw, 'uns-auth');
  // Nothing got through to the broker.
  const sub = await subscriber(procs, broker.url(), ['#'], { username: 'plant', password: 'right-password' });
  await sleep(1000);
  assert.equal(sub.messages.length, 0, `messages reached the broker: ${sub.messages.slice(0, 3).map((m) => m.topic)}`);
  await gw.stop();
  gw.assertCleanStderr();
});
