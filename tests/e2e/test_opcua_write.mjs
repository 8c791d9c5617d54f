// Writes to OPC UA variables through the write gate (docs/opcua.md, "Writes")
// against the node-opcua test server (tests/e2e/peers/opcua_server.mjs, which
// logs every change of its Writable variables on stderr) and `airlock run -c`
// with `write_gate: {enabled: true}` and `write:` policies on OPC UA tags:
//  - subscribe mode: POST /api/v1/tags/{path}/write with a token sets
//    Writable.Double; the answer is 200 with the read-back equal, the server
//    logs the new value, the tag shows it, and the audit trail has the write;
//  - poll mode: an Int32 variable written on the polling session;
//  - a read-only variable with a write policy: 502 naming BadNotWritable,
//    audited as failed;
//  - a value the node's data type cannot hold (3e9 into an Int32): 502
//    before anything is sent; a value above the policy's max: refused by the
//    gate; neither reaches the server.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_opcua_write.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { Airlock, Procs, freePort, portListening, repo, waitUntil } from './north_helpers.mjs';

const SERVER = path.join(repo, 'tests', 'e2e', 'peers', 'opcua_server.mjs');
const NS = 'test/site/uawrite';

function config(url) {
  return `gateway: {name: uawrite}
history: {enabled: false}
write_gate: {enabled: true}
devices:
  - name: plc
    protocol: opcua
    endpoint: ${url}
    namespace: ${NS}
    timeout_ms: 3000
    backoff_initial_ms: 200
    backoff_max_ms: 1000
    groups:
      - name: g
        interval_ms: 200
        tags:
          - {name: setpoint, node: "ns=1;s=Writable.Double", write: {min: 0, max: 100}}
          - {name: readonly, node: "ns=1;s=Scalar.Double", write: {}}
          - {name: counter, node: "ns=1;s=Scalar.UInt32"}
  - name: polled
    protocol: opcua
    endpoint: ${url}
    mode: poll
    namespace: ${NS}/polled
    timeout_ms: 3000
    groups:
      - name: slow
        interval_ms: 300
        tags:
          - {name: mode, path: "/Objects/1:Plant/1:Area1/1:Line1/1:Writable/1:Mode", write: {}}
`;
}

async function write(gw, tag, value, reason) {
  const r = await gw.get(`/api/v1/tags/${tag}/write`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ value, reason }),
  });
  return { status: r.status, body: await r.json() };
}

async function auditOf(gw, reason) {
  const body = await gw.json('/api/v1/audit?action=write&limit=200');
  return body.records.filter((r) => r.reason === reason);
}

test('OPC UA writes through the write gate', { timeout: 90000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const dir = procs.tempDir('airlock-e2e-uawrite-');
  const port = await freePort();
  const server = procs.start([process.execPath, SERVER, '--port', String(port), '--pki',
    path.join(dir, 'server-pki'), '--trust-all-clients'], 'opcua-server');
  await waitUntil(async () => {
    server.assertAlive();
    return portListening(port);
  }, 60000, `the OPC UA server on ${port}`, 200);
  const cfg = path.join(dir, 'gw.yaml');
  fs.writeFileSync(cfg, config(`opc.tcp://127.0.0.1:${port}/airlock`));
  const gw = await new Airlock(procs, ['-c', cfg], { dataDir: path.join(dir, 'data') }).start(60000);
  const serverLog = () => server.stderrText;

  await waitUntil(async () => {
    const tags = await gw.tags();
    return [`${NS}/setpoint`, `${NS}/readonly`, `${NS}/polled/mode`]
      .every((p) => tags[p] && tags[p].quality === 'Good');
  }, 30000, 'the tags Good');

  await t.test('subscribe mode: the value reaches the server, is read back, shown and audited', async () => {
    const before = (await gw.tags())[`${NS}/setpoint`];
    assert.equal(before.type, 'double');
    assert.equal(before.value, 1.5);
    const reason = `e2e setpoint ${process.pid}`;
    const r = await write(gw, `${NS}/setpoint`, 7.25, reason);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.outcome, 'ok', JSON.stringify(r.body));
    assert.equal(r.body.read_back, 7.25);
    assert.equal(r.body.read_back_quality, 'Good');
    assert.equal(r.body.old_value, '1.5');
    assert.equal(r.body.error, null);
    assert.match(serverLog(), /written ns=1;s=Writable\.Double Double 7\.25\n/);
    await waitUntil(async () => (await gw.tags())[`${NS}/setpoint`].value === 7.25, 5000,
      'the tag showing 7.25');
    const [rec] = await auditOf(gw, reason);
    assert.ok(rec, 'no audit record of the write');
    assert.equal(rec.object, `${NS}/setpoint`);
    assert.equal(rec.outcome, 'ok');
    assert.equal(rec.old_value, '1.5');
    assert.equal(rec.new_value, '7.25');
    assert.match(rec.details, /device=plc read_back=7\.25/);
  });

  await t.test('poll mode: an Int32 written on the polling session', async () => {
    const reason = `e2e mode ${process.pid}`;
    const r = await write(gw, `${NS}/polled/mode`, -7, reason);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.outcome, 'ok');
    assert.equal(r.body.read_back, -7);
    assert.match(serverLog(), /written ns=1;s=Writable\.Int32 Int32 -7\n/);
    await waitUntil(async () => (await gw.tags())[`${NS}/polled/mode`].value === -7, 5000,
      'the tag showing -7');
    assert.equal((await auditOf(gw, reason))[0].outcome, 'ok');
  });

  await t.test('a read-only variable: 502 naming BadNotWritable, audited', async () => {
    const reason = `e2e readonly ${process.pid}`;
    const r = await write(gw, `${NS}/readonly`, 3, reason);
    assert.equal(r.status, 502, JSON.stringify(r.body));
    assert.equal(r.body.verdict, 'failed');
    assert.match(r.body.error.message, /the server refused the write: BadNotWritable \(0x803B0000\)/);
    const [rec] = await auditOf(gw, reason);
    assert.equal(rec.outcome, 'failed');
    assert.match(rec.details, /BadNotWritable/);
  });

  await t.test('values the node or the policy cannot take never reach the server', async () => {
    const logBefore = serverLog().length;
    let r = await write(gw, `${NS}/polled/mode`, 3000000000, `e2e range ${process.pid}`);
    assert.equal(r.status, 502, JSON.stringify(r.body));
    assert.match(r.body.error.message,
      /3000000000 is out of range for the node's data type Int32 \(-2147483648 to 2147483647\)/);
    r = await write(gw, `${NS}/setpoint`, 150, `e2e max ${process.pid}`);
    assert.equal(r.body.verdict, 'refused_above_max', JSON.stringify(r.body));
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    assert.equal(serverLog().slice(logBefore).match(/written /g), null, serverLog().slice(logBefore));
    assert.equal((await gw.tags())[`${NS}/setpoint`].value, 7.25);
  });

  gw.assertCleanStderr();
  await gw.stop();
  gw.assertCleanStderr();
});
