// The MQTT publishers' connection options (docs/north.md, docs/configuration.md
// "north"), each against a real mosquitto started here and MQTT.js
// subscribers, on loopback only, with one `airlock sim` shared by every test:
//   - TLS: a CA, server and client certificates made here with openssl; a
//     broker requiring client certificates; mqtts:// with tls {ca_file,
//     cert_file, key_file} delivers, a publisher trusting another CA does not
//     connect and says why (TLS) in /api/v1/health while polling goes on;
//   - MQTT 5 (protocol "5") for UNS and Sparkplug: values arrive and the
//     broker's log shows them as MQTT 5 ("p5"; a 3.1.1 client shows "p2");
//   - username + password_file against a mosquitto password file;
//   - heartbeat_s republishes a tag that never changes, retain: true hands a
//     late subscriber the last value at once;
//   - two publishers (UNS to broker A, Sparkplug to broker B), each with its
//     own health entry and metrics; broker B stopped: B spools while A keeps
//     delivering; B started again: its spool drains as historical values;
//   - keep-alive: a frozen broker (SIGSTOP) is noticed within a few
//     keep-alive periods and, once it runs again (SIGCONT), reconnected to.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_north_connection.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  Airlock, Broker, Procs, decodeSpb, freePortRange, metricValue, mqtt, northYaml, simConfig, sleep,
  startSim, subscriber, waitUntil,
} from './north_helpers.mjs';

const PLANT_PORTS = 16; // the demo plant's devices fit in this many ports
const PLANT_DEVICES = 6;
const PUMP = 'acme/plant1/utilities/pumping/skid1';
// The energy meter's current transformer ratio: a constant register in the
// "info" poll group (read every 60 s, longer than any window here), so it is
// sampled once and then never again during a test. (A bool tag such as
// pump/local_mode would not do: a tag without deadband reports every poll.)
const CONSTANT_TAG = 'acme/plant1/utilities/electrical/incomer1/ct_ratio';

// ---------------------------------------------------------------- shared

let simProcs;
let plantYaml; // the gateway configuration polling the shared simulator

before(async () => {
  simProcs = new Procs();
  const base = await freePortRange(PLANT_PORTS);
  await startSim(simProcs, [], base, PLANT_DEVICES);
  plantYaml = simConfig(['--port-base', String(base)]);
});

after(() => simProcs.close());

// Starts a gateway polling the shared simulator with these publishers.
async function startGateway(procs, publishers) {
  const dir = procs.tempDir('airlock-e2e-north-conn-');
  const cfg = path.join(dir, 'airlock.yaml');
  fs.writeFileSync(cfg, plantYaml + northYaml(publishers));
  return new Airlock(procs, ['-c', cfg]).start();
}

// Waits until publisher name is connected; returns its health object.
async function waitConnected(gw, name, timeoutMs = 20000) {
  return waitUntil(async () => {
    const p = await gw.publisher(name);
    return p.state === 'connected' ? p : null;
  }, timeoutMs, `publisher ${name} connected`);
}

// UNS messages under prefix/ of a subscriber: [{path, body, retain, at}].
function unsValues(client, prefix) {
  return client.messages.filter((m) => m.topic.startsWith(prefix + '/')).map((m) => ({
    path: m.topic.slice(prefix.length + 1), body: JSON.parse(m.payload.toString('utf8')),
    retain: m.retain, at: m.at,
  }));
}

// Asserts a UNS value payload's shape.
function assertUnsBody(body, where) {
  assert.deepEqual(Object.keys(body).sort(), ['quality', 'timestamp', 'value'], `${where}: ${JSON.stringify(body)}`);
  assert.ok(Number.isInteger(body.timestamp) && Math.abs(body.timestamp - Date.now()) < 600000,
    `${where}: timestamp ${body.timestamp}`);
}

// Decoded Sparkplug messages the edge node published: [{type, device, payload, at}].
function spbMessages(client) {
  return client.messages.filter((m) => m.topic.startsWith('spBv1.0/') && !m.topic.includes('/STATE/'))
    .map((m) => {
      const parts = m.topic.split('/');
      return { topic: m.topic, group: parts[1], type: parts[2], node: parts[3], device: parts[4],
        payload: decodeSpb(m.payload), at: m.at };
    });
}

// Asserts that polling goes on: the pump's flow (always moving in the
// simulation) gets a newer timestamp.
async function assertPolling(gw) {
  const flow = `${PUMP}/flow`;
  const before0 = (await gw.tags())[flow];
  assert.ok(before0, `the demo plant has ${flow}`);
  await waitUntil(async () => (await gw.tags())[flow].timestamp_ms > before0.timestamp_ms,
    10000, `polling continues (${flow} timestamp advances)`);
}

function run(argv, what) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 0, `${what}: ${argv.join(' ')}: ${r.stderr}`);
  return r;
}

// A test PKI in dir: a CA, a server certificate for 127.0.0.1/localhost, a
// client certificate (both signed by the CA), and an unrelated second CA.
// Returns the file names.
function makePki(dir) {
  const f = (n) => path.join(dir, n);
  const key = (name) => run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-out', f(name)], `key ${name}`);
  const ca = (name, cn) => {
    key(`${name}.key`);
    run(['openssl', 'req', '-x509', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2',
      '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], `CA ${name}`);
  };
  const leaf = (name, cn, ext) => {
    key(`${name}.key`);
    run(['openssl', 'req', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`],
      `CSR ${name}`);
    fs.writeFileSync(f(`${name}.ext`), ext.join('\n') + '\n');
    run(['openssl', 'x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
      '-set_serial', String(1000 + Math.floor(Math.random() * 1e6)), '-days', '2', '-out', f(`${name}.pem`),
      '-extfile', f(`${name}.ext`)], `certificate ${name}`);
  };
  ca('ca', 'airlock test CA');
  ca('other-ca', 'some other CA');
  leaf('server', 'localhost', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  leaf('client', 'airlock-gateway', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth']);
  for (const n of ['ca.key', 'other-ca.key', 'server.key', 'client.key']) fs.chmodSync(f(n), 0o600);
  return { ca: f('ca.pem'), otherCa: f('other-ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'),
    clientCert: f('client.pem'), clientKey: f('client.key') };
}

// Resolves 'connected' or the error/close that ended an MQTT.js connection
// attempt (no reconnects), within timeoutMs.
function tryConnect(url, opts, timeoutMs = 8000) {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: timeoutMs, ...opts });
    const done = (what) => { c.end(true); resolve(what); };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    c.once('connect', () => { clearTimeout(timer); done('connected'); });
    c.once('error', (e) => { clearTimeout(timer); done(`error: ${e.message}`); });
    c.once('close', () => { clearTimeout(timer); done('closed'); });
  });
}

// ---------------------------------------------------------------- 1. TLS

test('TLS: mqtts:// with CA and client certificate delivers; an untrusted server is refused with a TLS error', { timeout: 90000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const pki = makePki(procs.tempDir('airlock-e2e-north-pki-'));
  const broker = await new Broker(procs, { extraConf: [
    `cafile ${pki.ca}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, 'require_certificate true',
  ] }).start();
  const url = `mqtts://127.0.0.1:${broker.port}`;
  const tlsOpts = { ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(pki.clientCert),
    key: fs.readFileSync(pki.clientKey), rejectUnauthorized: true };

  // The broker really requires TLS and a client certificate.
  assert.notEqual(await tryConnect(`mqtt://127.0.0.1:${broker.port}`, {}), 'connected', 'plain MQTT accepted on the TLS port');
  assert.notEqual(await tryConnect(url, { ca: tlsOpts.ca, rejectUnauthorized: true }), 'connected',
    'a client without a certificate was accepted (require_certificate not in effect)');

  const sub = await subscriber(procs, url, ['tls/#', 'tlsbad/#'], tlsOpts);
  const gw = await startGateway(procs, [
    { name: 'tls-ok', kind: 'uns', url, prefix: 'tls', tags: [PUMP], keepalive_s: 10,
      tls: { ca_file: pki.ca, cert_file: pki.clientCert, key_file: pki.clientKey } },
    { name: 'tls-badca', kind: 'uns', url, prefix: 'tlsbad', tags: [PUMP],
      tls: { ca_file: pki.otherCa, cert_file: pki.clientCert, key_file: pki.clientKey } },
  ]);

  // The trusted publisher connects over TLS and delivers the pump's values.
  const ok = await waitConnected(gw, 'tls-ok');
  assert.equal(ok.url, url);
  const pumpTags = Object.keys(await gw.tags()).filter((p) => p.startsWith(PUMP + '/'));
  await waitUntil(() => {
    const seen = new Set(unsValues(sub, 'tls').map((v) => v.path));
    return pumpTags.every((p) => seen.has(p));
  }, 20000, 'a tls/<path> message for every pump tag');
  for (const v of unsValues(sub, 'tls')) assertUnsBody(v.body, `tls/${v.path}`);

  // The publisher trusting another CA: not connected, a TLS error, nothing delivered.
  const bad = await waitUntil(async () => {
    const p = await gw.publisher('tls-badca');
    return p.last_error ? p : null;
  }, 20000, 'a last_error for tls-badca');
  assert.notEqual(bad.state, 'connected', JSON.stringify(bad));
  t.diagnostic(`tls-badca: ${bad.state}, last_error "${bad.last_error}"`);
  assert.match(bad.last_error, /TLS error: .*certificate verify failed/i, `last_error should say the server certificate was not trusted: ${bad.last_error}`);
  assert.ok(bad.last_error_time, JSON.stringify(bad));
  const text = await gw.metrics();
  assert.equal(metricValue(text, 'airlock_north_connected', { publisher: 'tls-badca' }), 0);
  assert.equal(metricValue(text, 'airlock_north_connected', { publisher: 'tls-ok' }), 1);
  assert.equal((await gw.health()).status, 'degraded');
  await assertPolling(gw);
  await sleep(1000); // it keeps trying: still refused, still nothing through
  const bad2 = await gw.publisher('tls-badca');
  assert.notEqual(bad2.state, 'connected');
  assert.equal(unsValues(sub, 'tlsbad').length, 0, 'a message got through from the publisher trusting another CA');
  assert.equal((await gw.publisher('tls-ok')).state, 'connected');

  await gw.stop();
  gw.assertCleanStderr();
});

// ---------------------------------------------------------------- 2. MQTT 5

test('MQTT 5: UNS and Sparkplug publishers with protocol "5" deliver and connect with protocol level 5', { timeout: 90000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  // log_type notice: "New client connected from A:P as ID (p5, c1, k30)."
  const broker = await new Broker(procs, { extraConf: ['log_type notice', 'connection_messages true'] }).start();
  const sub = await subscriber(procs, broker.url(), ['v5/#', 'v311/#', 'spBv1.0/ntest5/#']);
  const gw = await startGateway(procs, [
    { name: 'uns5', kind: 'uns', url: broker.url(), protocol: '5', client_id: 'ntest-uns5', prefix: 'v5', tags: [PUMP] },
    { name: 'spb5', kind: 'sparkplug', url: broker.url(), protocol: '5', client_id: 'ntest-spb5',
      group_id: 'ntest5', edge_node: 'edge5' },
    { name: 'uns311', kind: 'uns', url: broker.url(), protocol: '3.1.1', client_id: 'ntest-uns311', prefix: 'v311',
      tags: [PUMP] },
  ]);
  for (const n of ['uns5', 'spb5', 'uns311']) await waitConnected(gw, n);

  // Values arrive over MQTT 5 as over 3.1.1.
  await waitUntil(() => unsValues(sub, 'v5').length >= 10 && unsValues(sub, 'v311').length >= 10,
    20000, 'UNS values from the MQTT 5 and the 3.1.1 publishers');
  for (const v of unsValues(sub, 'v5')) assertUnsBody(v.body, `v5/${v.path}`);
  await waitUntil(() => spbMessages(sub).some((m) => m.type === 'DDATA'), 20000, 'Sparkplug DDATA over MQTT 5');
  const spb = spbMessages(sub);
  assert.equal(spb[0].type, 'NBIRTH', `first Sparkplug message ${spb[0].topic}`);
  assert.equal(spb[0].node, 'edge5');
  assert.equal(spb.filter((m) => m.type === 'DBIRTH').length, PLANT_DEVICES, 'a DBIRTH per device');
  assert.ok(spb.filter((m) => m.type === 'DDATA').every((m) => m.payload.metrics.length > 0));

  // The broker saw MQTT 5 (p5) for the MQTT 5 clients. mosquitto 2.0.11
  // prints its own protocol enum, not the protocol level byte: 1 = 3.1,
  // 2 = 3.1.1, 5 = 5.
  const log = broker.child.stderrText;
  const levelOf = (id) => {
    const m = new RegExp(`New client connected from \\S+ as ${id} \\(p(\\d+),`).exec(log);
    assert.ok(m, `no connection of ${id} in the broker's log:\n${log.slice(-3000)}`);
    return Number(m[1]);
  };
  assert.equal(levelOf('ntest-uns5'), 5, 'UNS publisher with protocol "5"');
  assert.equal(levelOf('ntest-spb5'), 5, 'Sparkplug publisher with protocol "5"');
  assert.equal(levelOf('ntest-uns311'), 2, 'UNS publisher with protocol "3.1.1"');

  await gw.stop();
  gw.assertCleanStderr();
});

// ---------------------------------------------------------------- 3. credentials

test('username + password_file: accepted by a broker with a password file', { timeout: 60000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const dir = procs.tempDir('airlock-e2e-north-cred-');
  const pwFile = path.join(dir, 'passwords');
  run(['mosquitto_passwd', '-b', '-c', pwFile, 'plant', 'right-password'], 'mosquitto_passwd');
  const broker = await new Broker(procs, { anonymous: false,
    extraConf: [`password_file ${pwFile}`, 'log_type notice'] }).start();
  const passFile = path.join(dir, 'mqtt.pass');
  fs.writeFileSync(passFile, 'right-password\n', { mode: 0o600 });
  // Anonymous clients are refused: the credentials are what gets us in.
  assert.notEqual(await tryConnect(broker.url(), {}), 'connected', 'the broker accepted an anonymous client');

  const sub = await subscriber(procs, broker.url(), ['cred/#'], { username: 'plant', password: 'right-password' });
  const gw = await startGateway(procs, [{ name: 'cred', kind: 'uns', url: broker.url(), client_id: 'ntest-cred',
    username: 'plant', password_file: passFile, prefix: 'cred', tags: [PUMP] }]);
  const pub = await waitConnected(gw, 'cred');
  assert.equal(pub.last_error, null, JSON.stringify(pub));
  await waitUntil(() => unsValues(sub, 'cred').length >= 10, 20000, 'values through the authenticated publisher');
  assert.match(broker.child.stderrText, /as ntest-cred \(p\d+, c\d+, k\d+, u'plant'\)/, 'the broker saw user plant');
  assert.equal(metricValue(await gw.metrics(), 'airlock_north_connected', { publisher: 'cred' }), 1);
  await gw.stop();
  gw.assertCleanStderr();
});

// ---------------------------------------------------------------- 4. heartbeat, retain

test('heartbeat_s republishes a value that never changes; retain: true hands it to a late subscriber', { timeout: 90000 }, async (t) => {
  const HEARTBEAT_S = 2;
  const WINDOW_MS = 11000; // heartbeats due at about 2, 4, 6, 8, 10 s
  const procs = new Procs();
  t.after(() => procs.close());
  const broker = await new Broker(procs).start();
  const sub = await subscriber(procs, broker.url(), ['hb/#', 'nohb/#']);
  const gw = await startGateway(procs, [
    { name: 'hb', kind: 'uns', url: broker.url(), prefix: 'hb', tags: [CONSTANT_TAG], heartbeat_s: HEARTBEAT_S,
      retain: true },
    // The same tag without heartbeat nor retain: proves the tag is constant.
    { name: 'nohb', kind: 'uns', url: broker.url(), prefix: 'nohb', tags: [CONSTANT_TAG] },
  ]);
  const first = await waitUntil(() => unsValues(sub, 'hb')[0], 20000, `hb/${CONSTANT_TAG}`);
  await sleep(WINDOW_MS + 300);
  const hb = unsValues(sub, 'hb');
  const nohb = unsValues(sub, 'nohb');
  const api = (await gw.tags())[CONSTANT_TAG];
  assert.ok(api, `${CONSTANT_TAG} in /api/v1/tags`);

  // Without heartbeat the tag is published once: no new sample in the window.
  assert.equal(nohb.length, 1, `${CONSTANT_TAG} should be sampled once in the window, yet it was`
    + ` published ${nohb.length} times: ${JSON.stringify(nohb.map((v) => v.body))}`);
  // With heartbeat_s: about WINDOW/heartbeat_s republications after the first.
  assert.ok(hb.every((v) => v.path === CONSTANT_TAG), `hb/ topics: ${[...new Set(hb.map((v) => v.path))]}`);
  const inWindow = hb.filter((v) => v.at > first.at && v.at <= first.at + WINDOW_MS);
  const want = Math.floor(WINDOW_MS / 1000 / HEARTBEAT_S);
  assert.ok(inWindow.length >= want - 1 && inWindow.length <= want + 1,
    `${inWindow.length} heartbeats in ${WINDOW_MS} ms with heartbeat_s ${HEARTBEAT_S} (want about ${want});`
    + ` arrivals (ms after the first): ${hb.map((v) => v.at - first.at)}`);
  // Between heartbeats heartbeat_s (the first one is due heartbeat_s after
  // the connection, not after the first sample).
  const gaps = hb.slice(2).map((v, i) => v.at - hb[i + 1].at);
  t.diagnostic(`${inWindow.length} heartbeats in ${WINDOW_MS} ms, gaps ${gaps} ms`);
  for (const g of gaps) {
    assert.ok(g >= HEARTBEAT_S * 1000 * 0.7 && g <= HEARTBEAT_S * 1000 * 1.5, `heartbeat gaps (ms): ${gaps}`);
  }
  for (const v of hb) {
    assertUnsBody(v.body, `hb/${v.path}`);
    assert.equal(v.body.value, api.value, `heartbeat value ${JSON.stringify(v.body)}, API ${api.value}`);
    assert.equal(v.body.quality, api.quality);
  }

  // retain: a late subscriber gets the last value at once, flagged retained;
  // without retain it gets nothing until the next change.
  const subscribedAt = Date.now();
  const late = await subscriber(procs, broker.url(), ['hb/#', 'nohb/#']);
  const retained = await waitUntil(() => late.messages.find((m) => m.topic === `hb/${CONSTANT_TAG}` && m.retain),
    3000, `a retained hb/${CONSTANT_TAG} for a late subscriber`);
  assert.ok(retained.at - subscribedAt < 1500, `retained value after ${retained.at - subscribedAt} ms`);
  const body = JSON.parse(retained.payload.toString('utf8'));
  assert.equal(body.value, api.value);
  await sleep(1000);
  assert.equal(late.messages.filter((m) => m.topic.startsWith('nohb/')).length, 0,
    'a value of the publisher without retain reached the late subscriber');

  await gw.stop();
  gw.assertCleanStderr();
});

// ---------------------------------------------------------------- 5. two publishers

test('two publishers: UNS to broker A, Sparkplug to broker B; B down spools while A delivers; B back drains', { timeout: 120000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const brokerA = await new Broker(procs).start();
  const brokerB = await new Broker(procs).start();
  const subA = await subscriber(procs, brokerA.url(), ['a/#']);
  // A persistent session: the broker keeps its subscription and queues for
  // it across its own restart (persistence on).
  const subB = await subscriber(procs, brokerB.url(), ['spBv1.0/ntestB/#'], { clean: false, clientId: 'ntest-subB' });
  const gw = await startGateway(procs, [
    { name: 'pubA', kind: 'uns', url: brokerA.url(), prefix: 'a', tags: [PUMP] },
    { name: 'pubB', kind: 'sparkplug', url: brokerB.url(), group_id: 'ntestB', edge_node: 'edgeB' },
  ]);
  await waitConnected(gw, 'pubA');
  await waitConnected(gw, 'pubB');
  await waitUntil(() => unsValues(subA, 'a').length > 5 && spbMessages(subB).some((m) => m.type === 'DDATA'),
    20000, 'values at both subscribers');

  // Each has its own entry in health and its own series in /metrics.
  const h = await gw.health();
  assert.deepEqual(h.north.map((p) => p.name).sort(), ['pubA', 'pubB']);
  const entry = (n) => h.north.find((p) => p.name === n);
  assert.equal(entry('pubA').kind, 'uns');
  assert.equal(entry('pubA').url, brokerA.url());
  assert.equal(entry('pubB').kind, 'sparkplug');
  assert.equal(entry('pubB').url, brokerB.url());
  let text = await gw.metrics();
  for (const n of ['pubA', 'pubB']) {
    assert.equal(metricValue(text, 'airlock_north_connected', { publisher: n }), 1, `connected{${n}}`);
    assert.ok(metricValue(text, 'airlock_north_published_total', { publisher: n }) > 0, `published_total{${n}}`);
  }

  // Broker B goes away: B spools, A keeps delivering.
  const stopAt = Date.now();
  await brokerB.stop();
  const aBefore = unsValues(subA, 'a').length;
  const down = await waitUntil(async () => {
    const p = await gw.publisher('pubB');
    return p.state !== 'connected' && p.spooled > 0 ? p : null;
  }, 15000, 'pubB not connected and spooling');
  await sleep(4000);
  const aDuring = unsValues(subA, 'a').filter((v) => v.body.timestamp > stopAt + 500);
  assert.ok(unsValues(subA, 'a').length > aBefore && aDuring.length >= 5,
    `A delivered ${aDuring.length} values stamped after B stopped`);
  const pubA = await gw.publisher('pubA');
  const pubB = await gw.publisher('pubB');
  assert.equal(pubA.state, 'connected', JSON.stringify(pubA));
  assert.equal(pubA.spooled, 0, JSON.stringify(pubA));
  assert.notEqual(pubB.state, 'connected', JSON.stringify(pubB));
  assert.ok(pubB.spooled >= down.spooled && pubB.spooled > 0, JSON.stringify(pubB));
  assert.equal((await gw.health()).status, 'degraded');
  text = await gw.metrics();
  assert.equal(metricValue(text, 'airlock_north_connected', { publisher: 'pubA' }), 1);
  assert.equal(metricValue(text, 'airlock_north_connected', { publisher: 'pubB' }), 0);
  assert.ok(metricValue(text, 'airlock_north_spooled_samples', { publisher: 'pubB' }) > 0);
  assert.equal(metricValue(text, 'airlock_north_spooled_samples', { publisher: 'pubA' }), 0);

  // Broker B back (same port, same persistence): B's spool drains, its
  // subscriber gets the outage's values as historical.
  const spooledAtRestart = (await gw.publisher('pubB')).spooled;
  const birthsBefore = spbMessages(subB).filter((m) => m.type === 'NBIRTH').length;
  const restartAt = Date.now();
  await brokerB.start();
  await waitUntil(async () => {
    const p = await gw.publisher('pubB');
    return p.state === 'connected' && p.spooled === 0 ? p : null;
  }, 45000, 'pubB connected with its spool drained');
  await waitUntil(() => spbMessages(subB).filter((m) => m.type === 'NBIRTH').length > birthsBefore
    && spbMessages(subB).some((m) => m.at >= restartAt && m.type === 'DDATA'
      && m.payload.metrics.some((x) => !x.isHistorical)), 20000, 'a new NBIRTH and live DDATA from B');
  const msgs = spbMessages(subB);
  const reborn = msgs.slice(msgs.findLastIndex((m) => m.type === 'NBIRTH'));
  const historical = reborn.filter((m) => m.type === 'DDATA').flatMap((m) => m.payload.metrics.filter((x) => x.isHistorical));
  t.diagnostic(`B: ${spooledAtRestart} spooled at the restart, ${historical.length} historical values after it`);
  assert.ok(historical.length >= spooledAtRestart,
    `${historical.length} historical values after B came back, ${spooledAtRestart} were spooled`);
  for (const x of historical) {
    assert.ok(x.timestamp >= stopAt - 2000 && x.timestamp <= Date.now(),
      `historical timestamp ${x.timestamp} outside the outage (${stopAt}..${restartAt})`);
  }
  assert.ok(historical.some((x) => x.timestamp > stopAt + 1000 && x.timestamp < restartAt - 1000),
    'no historical value stamped inside the outage');
  text = await gw.metrics();
  assert.ok(metricValue(text, 'airlock_north_reconnects_total', { publisher: 'pubB' }) >= 1, 'reconnects_total{pubB}');
  assert.equal(metricValue(text, 'airlock_north_reconnects_total', { publisher: 'pubA' }), 0, 'reconnects_total{pubA}');
  assert.equal(metricValue(text, 'airlock_north_spooled_samples', { publisher: 'pubB' }), 0);

  await gw.stop();
  gw.assertCleanStderr();
});

// ---------------------------------------------------------------- 6. keep-alive

test('keep-alive: a frozen broker (SIGSTOP) is noticed within a few keep-alive periods; SIGCONT: reconnected', { timeout: 120000 }, async (t) => {
  const KEEPALIVE_S = 5;
  const procs = new Procs();
  const broker = await new Broker(procs).start();
  t.after(async () => {
    if (broker.child.alive()) broker.child.proc.kill('SIGCONT');
    await procs.close();
  });
  const sub = await subscriber(procs, broker.url(), ['ka/#'], { keepalive: 120 });
  const gw = await startGateway(procs, [{ name: 'ka', kind: 'uns', url: broker.url(), prefix: 'ka', tags: [PUMP],
    keepalive_s: KEEPALIVE_S }]);
  await waitConnected(gw, 'ka');
  await waitUntil(() => unsValues(sub, 'ka').length > 5, 20000, 'values before the freeze');

  broker.child.proc.kill('SIGSTOP');
  const stopAt = Date.now();
  const noticed = await waitUntil(async () => {
    const p = await gw.publisher('ka');
    const newError = p.last_error_time && Date.parse(p.last_error_time) >= stopAt - 1000;
    return p.state !== 'connected' || newError ? p : null;
  }, (3 * KEEPALIVE_S + 5) * 1000, `the publisher noticing the frozen broker (keepalive_s ${KEEPALIVE_S})`, 250);
  const noticedAfterMs = Date.now() - stopAt;
  t.diagnostic(`noticed after ${noticedAfterMs} ms: ${noticed.state}, last_error "${noticed.last_error}"`);
  assert.ok(noticedAfterMs <= 3 * KEEPALIVE_S * 1000 + 1000, `noticed after ${noticedAfterMs} ms`);
  await t.test('last_error says the broker stopped answering (keep-alive)', () => {
    assert.match(noticed.last_error || '', /keep.?alive|no answer|not answer|timed out|timeout/i,
      `last_error "${noticed.last_error}"`);
  });
  const frozen = await waitUntil(async () => {
    const p = await gw.publisher('ka');
    return p.state !== 'connected' ? p : null;
  }, 5000, 'state not connected while frozen');
  assert.ok(frozen.last_error, `a last_error while the broker is frozen: ${JSON.stringify(frozen)}`);
  await assertPolling(gw);
  await sleep(2000);

  broker.child.proc.kill('SIGCONT');
  const contAt = Date.now();
  await waitConnected(gw, 'ka', 45000);
  await waitUntil(() => unsValues(sub, 'ka').some((v) => v.at > contAt && v.body.timestamp > contAt),
    15000, 'live values after the broker runs again');
  // What was sampled while the broker was frozen went out once it ran again.
  await waitUntil(async () => (await gw.publisher('ka')).spooled === 0, 20000, 'spool drained');
  await sleep(1000);
  const during = unsValues(sub, 'ka').filter((v) => v.body.timestamp > stopAt + 1000 && v.body.timestamp < contAt - 1000);
  assert.ok(during.length > 0, 'no value stamped during the freeze reached the subscriber');
  assert.ok(metricValue(await gw.metrics(), 'airlock_north_reconnects_total', { publisher: 'ka' }) >= 1);

  await gw.stop();
  gw.assertCleanStderr();
});
