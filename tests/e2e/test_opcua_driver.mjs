// The OPC UA driver (docs/configuration.md, "OPC UA devices") against the
// node-opcua test server (tests/e2e/peers/opcua_server.mjs, started here with
// its own --pki and --trust-all-clients) and `airlock run -c` with a config
// written here:
//  - subscribe: every scalar type listed by NodeId, with the value type taken
//    from the server and values exactly as the README's formulas say;
//  - browse discovery: the Plant folder's variables become tags in the
//    namespace with their types and units (arrays skipped; top levels joined
//    when the namespace leaves few segments);
//  - SignAndEncrypt with a user name and a password file (and a wrong
//    password: BadUserAccessDenied in health); a server not trusted yet: the
//    error names the rejected file, moving it to trusted/ is enough;
//  - poll mode, a browse path, an explicit type;
//  - the server killed during a subscription: tags go Bad, then values resume
//    after it restarts, /metrics counts reconnects; a start with the server
//    down uses the cached discovery; SIGHUP discovers again;
//  - a TCP server that answers with random bytes: a device error in health,
//    the gateway keeps running;
//  - `airlock check -c examples/opcua.yaml` accepts the example.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_opcua_driver.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  Airlock, Procs, airlockBin, freePort, metricValue, portListening, repo, sleep, waitUntil,
} from './north_helpers.mjs';

const SERVER = path.join(repo, 'tests', 'e2e', 'peers', 'opcua_server.mjs');
const NS = 'test/site/opcua';

// The node-opcua test server on port with its PKI in pki.
class UaServer {
  constructor(procs, port, pki) {
    this.procs = procs;
    this.port = port;
    this.pki = pki;
    this.child = null;
  }

  url() { return `opc.tcp://127.0.0.1:${this.port}/airlock`; }

  // Start-up takes 5-10 s (README): wait for the listening port, generously.
  async start() {
    this.child = this.procs.start([process.execPath, SERVER, '--port', String(this.port), '--pki', this.pki,
      '--trust-all-clients'], 'opcua-server');
    await waitUntil(async () => {
      this.child.assertAlive();
      return portListening(this.port);
    }, 60000, `the OPC UA server on ${this.port}`, 200);
    return this;
  }

  async kill() { if (this.child && this.child.alive()) await this.child.kill(); }

  async stop() {
    if (this.child && this.child.alive() && (await this.child.stop('SIGTERM', 10000)) === null) await this.child.kill();
  }

  certificate() { return path.join(this.pki, 'own', 'certs', 'certificate.pem'); }
}

// /api/v1/tags with 64-bit integers kept exact: {path: tag}, integers of 16
// digits or more as BigInt.
async function exactTags(gw) {
  const r = await gw.get('/api/v1/tags');
  assert.equal(r.status, 200);
  const text = (await r.text()).replace(/("value":)(-?\d{16,})(?=[,}])/g, '$1"big:$2"');
  const body = JSON.parse(text, (k, v) => (typeof v === 'string' && v.startsWith('big:') ? BigInt(v.slice(4)) : v));
  return Object.fromEntries(body.tags.map((t) => [t.path, t]));
}

function device(health, name) {
  const d = health.devices.find((x) => x.name === name);
  assert.ok(d, `device ${name} not in health: ${JSON.stringify(health.devices)}`);
  return d;
}

// The README's scalar formulas: [OPC UA type, airlock value type, f(k)].
const STATUS = [0, 0x40900000, 0x803C0000];
const SCALARS = [
  ['Boolean', 'bool', (k) => k % 2 === 1],
  ['SByte', 'int64', (k) => (k % 256) - 128],
  ['Byte', 'uint64', (k) => k % 256],
  ['Int16', 'int64', (k) => (k % 65536) - 32768],
  ['UInt16', 'uint64', (k) => k % 65536],
  ['Int32', 'int64', (k) => k - 2 ** 31],
  ['UInt32', 'uint64', (k) => k],
  ['Int64', 'int64', (k) => BigInt(k) - 2n ** 63n],
  ['UInt64', 'uint64', (k) => String(2n ** 64n - 1n - BigInt(k))], // above int64: a string in JSON
  ['Float', 'double', (k) => k * 0.5],
  ['Double', 'double', (k) => k * 0.25],
  ['String', 'string', (k) => `Value ${k}`],
  ['DateTime', 'int64', (k) => (1704067200n + BigInt(k)) * 1000000000n], // ns since 1970
  ['Guid', 'string', (k) => `${k.toString(16).padStart(8, '0')}-1234-5678-9abc-def012345678`],
  ['ByteString', 'string', (k) => `0x${k.toString(16).toUpperCase().padStart(8, '0')}`],
  ['LocalizedText', 'string', (k) => `Text ${k}`],
  ['QualifiedName', 'string', (k) => `1:Name${k}`],
  ['NodeId', 'string', (k) => `ns=1;i=${k}`],
  ['StatusCode', 'uint64', (k) => STATUS[k % 3]],
];

// JSON.stringify for values that may hold BigInts.
const show = (x) => JSON.stringify(x, (k, v) => (typeof v === 'bigint' ? `${v}n` : v));

const same = (a, b) => (typeof a === 'bigint' || typeof b === 'bigint' ? String(a) === String(b) : a === b);

// Checks the scalar tags under prefix against the formulas: each value is
// f(k') for a k' within 5 ticks of the UInt32 tag's k (values of one
// snapshot may straddle a tick). Returns k.
function checkScalars(tags, prefix, name = (t) => t) {
  const u32 = tags[`${prefix}/${name('UInt32')}`];
  assert.ok(u32, `no UInt32 tag under ${prefix}: ${Object.keys(tags).join(' ')}`);
  const k = u32.value;
  assert.ok(Number.isInteger(k) && k > 0, `UInt32 = k = ${k}`);
  for (const [type, vt, f] of SCALARS) {
    const p = `${prefix}/${name(type)}`;
    const t = tags[p];
    assert.ok(t, `no tag ${p}`);
    assert.equal(t.quality, 'Good', `${p}: ${show(t)}`);
    assert.equal(t.type, vt, `${p}: value type`);
    let ok = false;
    for (let kk = Math.max(0, k - 5); kk <= k + 5 && !ok; kk++) ok = same(t.value, f(kk));
    assert.ok(ok, `${p} = ${t.value} (${typeof t.value}) is f(k) for no k near ${k}; f(k) = ${f(k)}`);
  }
  return k;
}

function writeConfig(dir, name, yaml) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, yaml);
  return file;
}

// The gateway's configuration: four devices on one server.
function mainConfig(url, pwFile, wrongPwFile) {
  const scalars = SCALARS.map(([t]) => `          - {name: scalars/${t}, node: "ns=1;s=Scalar.${t}"}`).join('\n');
  return `gateway: {name: uagw}
history: {enabled: false}
devices:
  - name: sub
    protocol: opcua
    endpoint: ${url}
    namespace: ${NS}
    timeout_ms: 3000
    backoff_initial_ms: 200
    backoff_max_ms: 1000
    groups:
      - name: fast
        interval_ms: 200
        tags:
${scalars}
      - name: plant
        interval_ms: 250
        browse: "ns=1;s=Plant"
  - name: deep
    protocol: opcua
    endpoint: ${url}
    namespace: test/site/deep/x/y/z
    groups:
      - browse: /Objects/1:Plant
  - name: sec
    protocol: opcua
    endpoint: ${url}
    security: signandencrypt
    auth: {username: operator, password_file: ${pwFile}}
    namespace: test/site/secure
    timeout_ms: 3000
    groups:
      - tags:
          - {name: counter, node: "ns=1;s=Scalar.UInt32"}
          - {name: pressure, node: "ns=1;s=Analog.Pressure", deadband: "10%"}
  - name: badpw
    protocol: opcua
    endpoint: ${url}
    auth: {username: operator, password_file: ${wrongPwFile}}
    namespace: test/site/badpw
    timeout_ms: 3000
    groups:
      - tags: [{name: counter, node: "ns=1;s=Scalar.UInt32", type: uint64, unit: ""}]
  - name: poll
    protocol: opcua
    endpoint: ${url}
    mode: poll
    namespace: test/site/poll
    timeout_ms: 3000
    groups:
      - name: slow
        interval_ms: 300
        tags:
          - {name: counter, node: "ns=1;s=Scalar.UInt32"}
          - {name: int64_text, node: "ns=1;s=Scalar.Int64", type: string}
          - {name: temperature, path: "/Objects/1:Plant/1:Area1/1:Line1/1:Analog/1:Temperature"}
          - {name: missing, path: "/Objects/1:Plant/1:Nowhere"}
`;
}

test('OPC UA driver against node-opcua', { timeout: 240000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const dir = procs.tempDir('airlock-e2e-opcua-');
  const server = new UaServer(procs, await freePort(), path.join(dir, 'server-pki'));
  const dataDir = path.join(dir, 'data');
  const pwFile = path.join(dir, 'operator.pw');
  const wrongPwFile = path.join(dir, 'wrong.pw');
  fs.writeFileSync(pwFile, 'secret1\n', { mode: 0o600 });
  fs.writeFileSync(wrongPwFile, 'not-the-password\n', { mode: 0o600 });
  await server.start();
  // airlock trusts the server's certificate (the server trusts every client).
  fs.mkdirSync(path.join(dataDir, 'pki', 'trusted'), { recursive: true });
  fs.copyFileSync(server.certificate(), path.join(dataDir, 'pki', 'trusted', 'peer.pem'));
  const httpPort = await freePort();
  const cfg = writeConfig(dir, 'gw.yaml', mainConfig(server.url(), pwFile, wrongPwFile));
  let gw = await new Airlock(procs, ['-c', cfg], { dataDir, httpPort }).start(60000);

  await t.test('subscribe: every scalar type, exact values, types from the server', async () => {
    const tags = await waitUntil(async () => {
      const all = await exactTags(gw);
      const mine = Object.keys(all).filter((p) => p.startsWith(`${NS}/scalars/`));
      return mine.length === SCALARS.length && mine.every((p) => all[p].quality === 'Good') ? all : null;
    }, 30000, 'the listed scalar tags Good');
    const k1 = checkScalars(tags, `${NS}/scalars`);
    // Values keep coming (publishing interval 200 ms, a tick every 100 ms).
    await sleep(1500);
    const k2 = checkScalars(await exactTags(gw), `${NS}/scalars`);
    assert.ok(k2 >= k1 + 5, `k went from ${k1} to ${k2} in 1.5 s`);
    // Source timestamps (the server's update time), not far from now.
    const u32 = (await gw.tags())[`${NS}/scalars/UInt32`];
    assert.ok(Math.abs(u32.timestamp_ms - Date.now()) < 5000, `timestamp ${u32.timestamp}`);
    const sub = device(await gw.health(), 'sub');
    assert.equal(sub.protocol, 'opcua');
    assert.equal(sub.state, 'connected', JSON.stringify(sub));
    assert.ok(sub.endpoint.startsWith(server.url()), sub.endpoint);
  });

  await t.test('browse discovery: the Plant folder in the namespace, with types and units', async () => {
    const tags = await waitUntil(async () => {
      const all = await exactTags(gw);
      const v = all[`${NS}/Area1/Line1/Scalars/UInt32`];
      return v && v.quality === 'Good' ? all : null;
    }, 20000, 'discovered tags Good');
    const browsed = Object.keys(tags).filter((p) => p.startsWith(`${NS}/Area1/`) || p.startsWith(`${NS}/Area2/`));
    // 6 IdKinds + 19 Scalars + 3 Analog + 2 Writable + Line2's Counter;
    // the Arrays and Large folders hold arrays only.
    assert.equal(browsed.length, 31, browsed.join('\n'));
    assert.ok(!browsed.some((p) => p.includes('/Arrays/') || p.includes('/Large/')), 'an array became a tag');
    checkScalars(tags, `${NS}/Area1/Line1/Scalars`);
    const analog = {
      Temperature: ['double', '°C', (k) => 20 + (k % 100) * 0.5],
      Pressure: ['double', 'bar', (k) => 1 + (k % 64) * 0.125],
      Speed: ['double', 'r/min', (k) => 1500 + (k % 100)],
    };
    const k = tags[`${NS}/Area1/Line1/Scalars/UInt32`].value;
    for (const [name, [type, unit, f]] of Object.entries(analog)) {
      const tag = tags[`${NS}/Area1/Line1/Analog/${name}`];
      assert.ok(tag, `no Analog/${name}`);
      assert.equal(tag.type, type, `Analog/${name} type`);
      assert.equal(tag.unit, unit, `Analog/${name} unit (EngineeringUnits)`);
      let ok = false;
      for (let kk = k - 8; kk <= k + 8 && !ok; kk++) ok = tag.value === f(kk);
      assert.ok(ok, `Analog/${name} = ${tag.value}, f(${k}) = ${f(k)}`);
    }
    assert.equal(tags[`${NS}/Area1/Line2/Counter`].type, 'uint64');
    assert.equal(tags[`${NS}/Area1/Line1/Writable/Setpoint`].value, 1.5);
    assert.equal(tags[`${NS}/Area1/Line1/Writable/Mode`].value, 42);
    assert.equal(tags[`${NS}/Area1/Line1/Writable/Mode`].type, 'int64');
    // A namespace of 6 segments leaves 2 for the name: the top levels are joined.
    const deep = await waitUntil(async () => {
      const all = await gw.tags();
      return all['test/site/deep/x/y/z/Area1.Line1.Analog/Temperature']?.quality === 'Good' ? all : null;
    }, 20000, 'the deep device\'s tags');
    assert.equal(deep['test/site/deep/x/y/z/Area1.Line1.Analog/Temperature'].unit, '°C');
    assert.equal(deep['test/site/deep/x/y/z/Area1.Line2/Counter'].type, 'uint64');
    assert.equal(Object.keys(deep).filter((p) => p.startsWith('test/site/deep/')).length, 31);
    // "Größe °C" is sanitized into the tag-path alphabet.
    assert.ok(tags[`${NS}/Area1/Line1/IdKinds/UnicodeStringId`], 'IdKinds/UnicodeStringId');
    // The discovery is cached for a start with the server down.
    const cache = JSON.parse(fs.readFileSync(path.join(dataDir, 'opcua', 'sub.tags'), 'utf8'));
    assert.equal(cache.format, 'airlock-opcua-tags');
    assert.equal(cache.tags.filter((x) => x.group === 'plant').length, 31);
    assert.equal(cache.tags.filter((x) => !x.group).length, SCALARS.length);
  });

  await t.test('SignAndEncrypt with a user name; a wrong password is reported', async () => {
    const tags = await waitUntil(async () => {
      const all = await gw.tags();
      const c = all['test/site/secure/counter'];
      return c && c.quality === 'Good' && all['test/site/secure/pressure'].quality === 'Good' ? all : null;
    }, 30000, 'the secure device\'s tags Good');
    assert.equal(tags['test/site/secure/pressure'].unit, 'bar');
    const h = await gw.health();
    const sec = device(h, 'sec');
    assert.equal(sec.state, 'connected', JSON.stringify(sec));
    assert.match(sec.endpoint, /SignAndEncrypt/);
    const bad = await waitUntil(async () => {
      const d = device(await gw.health(), 'badpw');
      return d.last_error ? d : null;
    }, 20000, 'badpw last_error');
    assert.match(bad.last_error, /BadUserAccessDenied/, JSON.stringify(bad));
    assert.ok(['backoff', 'starting'].includes(bad.state), JSON.stringify(bad));
    assert.notEqual(tags['test/site/badpw/counter'].quality, 'Good');
  });

  await t.test('a server not trusted yet: the error names the file to move; moving it works', async () => {
    const otherData = path.join(dir, 'data-untrusted');
    const cfg2 = writeConfig(dir, 'untrusted.yaml', `history: {enabled: false}
devices:
  - name: sign
    protocol: opcua
    endpoint: ${server.url()}
    security: sign
    namespace: test/site/untrusted
    timeout_ms: 3000
    backoff_max_ms: 1000
    groups:
      - tags: [{name: counter, node: "ns=1;s=Scalar.UInt32", type: uint64, unit: ""}]
`);
    const gw2 = await new Airlock(procs, ['-c', cfg2], { dataDir: otherData, name: 'airlock-untrusted' }).start();
    const d = await waitUntil(async () => {
      const x = device(await gw2.health(), 'sign');
      return x.last_error ? x : null;
    }, 20000, 'last_error for the untrusted server');
    assert.match(d.last_error, /not trusted/, d.last_error);
    assert.equal(d.state, 'backoff');
    const rejectedDir = path.join(otherData, 'pki', 'rejected');
    const rejected = fs.readdirSync(rejectedDir);
    assert.equal(rejected.length, 1, rejected.join(' '));
    assert.match(gw2.stderr(), new RegExp(`move '[^']*rejected/${rejected[0].replace(/[[\]]/g, '\\$&')}' to '[^']*trusted/'`));
    // Trusting it needs no restart.
    fs.renameSync(path.join(rejectedDir, rejected[0]), path.join(otherData, 'pki', 'trusted', rejected[0]));
    await waitUntil(async () => (await gw2.tags())['test/site/untrusted/counter']?.quality === 'Good',
      30000, 'Good once the server is trusted');
    await gw2.stop();
    gw2.assertCleanStderr();
  });

  await t.test('poll mode: Read every interval, browse path, explicit type', async () => {
    const first = await waitUntil(async () => {
      const all = await exactTags(gw);
      return all['test/site/poll/counter']?.quality === 'Good' ? all : null;
    }, 20000, 'poll tags Good');
    await sleep(1200);
    const later = await exactTags(gw);
    const c1 = first['test/site/poll/counter'].value, c2 = later['test/site/poll/counter'].value;
    assert.ok(c2 > c1, `poll counter did not advance: ${c1} -> ${c2}`);
    const text = later['test/site/poll/int64_text'];
    assert.equal(text.type, 'string');
    assert.match(text.value, /^-9223372036854\d{6}$/, `Int64 as text: ${text.value}`);
    const temp = later['test/site/poll/temperature'];
    assert.equal(temp.quality, 'Good');
    assert.equal(temp.unit, '°C');
    // A browse path that does not exist: that tag only is Bad.
    assert.equal(later['test/site/poll/missing'].quality, 'Bad_ConfigurationError');
    const poll = device(await gw.health(), 'poll');
    assert.equal(poll.state, 'degraded', JSON.stringify(poll));
    assert.match(poll.last_error, /Nowhere/);
    const polls = metricValue(await gw.metrics(), 'airlock_polls_total', { device: 'poll' });
    assert.ok(polls >= 3, `airlock_polls_total{device="poll"} = ${polls}`);
  });

  await t.test('server restart during a subscription: Bad, then values again', async () => {
    const before = metricValue(await gw.metrics(), 'airlock_reconnects_total', { device: 'sub' });
    await server.kill();
    const bad = await waitUntil(async () => {
      const all = await gw.tags();
      const mine = Object.values(all).filter((x) => x.path.startsWith(`${NS}/`));
      return mine.every((x) => x.quality.startsWith('Bad')) ? mine : null;
    }, 15000, 'every tag of the device Bad');
    assert.ok(bad.some((x) => x.quality === 'Bad_NoCommunication'), JSON.stringify(bad.slice(0, 3)));
    const down = device(await gw.health(), 'sub');
    assert.equal(down.state, 'backoff', JSON.stringify(down));
    assert.ok(down.last_error, 'last_error while the server is down');
    await server.start();
    await waitUntil(async () => {
      const all = await gw.tags();
      return all[`${NS}/scalars/UInt32`].quality === 'Good' && all[`${NS}/Area1/Line2/Counter`].quality === 'Good';
    }, 45000, 'values again after the restart');
    checkScalars(await exactTags(gw), `${NS}/scalars`);
    const after = metricValue(await gw.metrics(), 'airlock_reconnects_total', { device: 'sub' });
    assert.ok(after > before, `reconnects ${before} -> ${after}`);
    assert.equal(device(await gw.health(), 'sub').state, 'connected');
  });

  await t.test('a start with the server down uses the cached discovery; SIGHUP discovers again', async () => {
    await gw.stop();
    gw.assertCleanStderr();
    await server.stop();
    gw = await new Airlock(procs, ['-c', cfg], { dataDir, httpPort }).start(60000);
    const tags = await gw.tags();
    const browsed = Object.keys(tags).filter((p) => p.startsWith(`${NS}/Area1/`));
    assert.equal(browsed.length, 31, 'the cached tags');
    assert.equal(tags[`${NS}/Area1/Line1/Analog/Temperature`].unit, '°C');
    assert.equal(tags[`${NS}/scalars/String`].type, 'string', 'cached type of a listed tag');
    assert.match(gw.stderr(), /using the last known tags/);
    await server.start();
    await waitUntil(async () => (await gw.tags())[`${NS}/Area1/Line1/Scalars/UInt32`].quality === 'Good',
      45000, 'cached tags Good once the server is up');
    const discoveries = (gw.stderr().match(/msg="tags discovered" device=sub/g) || []).length;
    gw.child.proc.kill('SIGHUP');
    await waitUntil(() => (gw.stderr().match(/msg="tags discovered" device=sub/g) || []).length > discoveries
      && /msg="browsed" device=sub/.test(gw.stderr()), 30000, 'discovery again after SIGHUP');
    await waitUntil(async () => (await gw.tags())[`${NS}/Area1/Line1/Scalars/UInt32`]?.quality === 'Good',
      30000, 'values after the reload');
    await gw.stop();
    gw.assertCleanStderr();
  });
});

test('a server answering garbage: a device error, the gateway keeps running', { timeout: 60000 }, async (t) => {
  const procs = new Procs();
  const sockets = new Set();
  const garbage = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.on('data', () => s.write(crypto.randomBytes(3000)));
  });
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => garbage.close(r));
    await procs.close();
  });
  await new Promise((r) => garbage.listen(0, '127.0.0.1', r));
  const port = garbage.address().port;
  const dir = procs.tempDir('airlock-e2e-opcua-garbage-');
  const cfg = writeConfig(dir, 'gw.yaml', `history: {enabled: false}
devices:
  - name: junk
    protocol: opcua
    endpoint: opc.tcp://127.0.0.1:${port}
    namespace: test/site/junk
    timeout_ms: 1000
    backoff_initial_ms: 100
    backoff_max_ms: 500
    groups:
      - tags: [{name: x, node: "ns=1;s=X", type: double}]
`);
  const gw = await new Airlock(procs, ['-c', cfg]).start();
  const junk = await waitUntil(async () => {
    const d = device(await gw.health(), 'junk');
    return d.last_error ? d : null;
  }, 20000, 'junk last_error');
  assert.equal(junk.state, 'backoff', JSON.stringify(junk));
  assert.match(junk.last_error, /Hello|ACK|message/, junk.last_error);
  await sleep(3000); // several more attempts
  const h = await gw.health();
  assert.equal(h.status, 'degraded');
  assert.ok(metricValue(await gw.metrics(), 'airlock_request_errors_total', { device: 'junk' }) >= 3);
  const x = (await gw.tags())['test/site/junk/x'];
  assert.match(x.quality, /^Bad/);
  assert.ok(gw.child.alive());
  await gw.stop();
  gw.assertCleanStderr();
});

test('airlock check -c examples/opcua.yaml', () => {
  const r = spawnSync(airlockBin(), ['check', '-c', path.join(repo, 'examples', 'opcua.yaml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid: 2 device\(s\), 3 poll group\(s\), 7 tag\(s\)/);
});
