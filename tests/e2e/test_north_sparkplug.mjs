// Publishing as a Sparkplug B edge node (docs/north.md, "Sparkplug B"),
// payloads decoded with sparkplug-payload (npm), an implementation we did not
// write: NBIRTH (seq 0, bdSeq, Node Control/Rebirth) then a DBIRTH per device
// with every tag as a metric (name, alias, datatype, timestamp, Quality and
// StatusCode properties), DDATA by alias only, seq counting over every
// message of the node and wrapping 255 -> 0, rebirth on NCMD, DCMD refused
// and logged, malformed NCMD ignored, the NDEATH Will with the NBIRTH's
// bdSeq when the gateway is killed; and the primary host: nothing while the
// host is offline, then BIRTHs and the spooled values as is_historical.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_north_sparkplug.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  Airlock, Broker, Procs, decodeSpb, freePortRange, metricNamed, northYaml, simConfig, sleep,
  sparkplug, startSim, subscriber, waitUntil,
} from './north_helpers.mjs';

const PLANT_PORTS = 16;
const GROUP = 'plant1';
const SPB_TYPE_OF = { double: 'Double', bool: 'Boolean', string: 'String', uint64: 'UInt64', int64: 'Int64' };

// Sparkplug messages of a subscriber to spBv1.0/#, decoded: [{type, node,
// device, payload, topic}]. Only what the edge node publishes: STATE and the
// commands sent to the node (NCMD, DCMD: the test publishes malformed ones)
// are left out.
function spbMessages(client) {
  const out = [];
  for (const m of client.messages) {
    const parts = m.topic.split('/');
    if (parts[0] !== 'spBv1.0' || parts[1] === 'STATE') continue;
    if (parts[2] === 'NCMD' || parts[2] === 'DCMD') continue;
    out.push({ topic: m.topic, group: parts[1], type: parts[2], node: parts[3], device: parts[4],
      payload: decodeSpb(m.payload) });
  }
  return out;
}

// The messages of the latest birth on: the last NBIRTH and all after it.
function sinceLastNbirth(msgs) {
  let i = msgs.length - 1;
  while (i >= 0 && msgs[i].type !== 'NBIRTH') i--;
  return i < 0 ? [] : msgs.slice(i);
}

// Asserts the BIRTH sequence at the start of msgs (an NBIRTH then one DBIRTH
// per device) against the API's tags; returns {bdSeq, aliases: Map(device ->
// Map(alias -> metric)), devices}.
function checkBirths(msgs, tags, devices) {
  const nb = msgs[0];
  assert.equal(nb.type, 'NBIRTH', `first message ${nb.topic}`);
  assert.equal(nb.group, GROUP);
  assert.equal(nb.payload.seq, 0, 'NBIRTH seq is 0');
  assert.equal(typeof nb.payload.timestamp, 'number', 'NBIRTH has a timestamp');
  const bd = metricNamed(nb.payload, 'bdSeq');
  assert.ok(bd, `NBIRTH has a bdSeq metric: ${JSON.stringify(nb.payload.metrics.map((m) => m.name))}`);
  assert.equal(typeof bd.value, 'number');
  const rebirth = metricNamed(nb.payload, 'Node Control/Rebirth');
  assert.ok(rebirth, 'NBIRTH has Node Control/Rebirth');
  assert.equal(rebirth.type, 'Boolean');
  assert.equal(rebirth.value, false);

  const births = msgs.slice(1, 1 + devices.length);
  assert.deepEqual(births.map((m) => m.type), devices.map(() => 'DBIRTH'),
    `a DBIRTH per device right after the NBIRTH: ${msgs.slice(0, devices.length + 2).map((m) => m.topic)}`);
  assert.deepEqual(births.map((m) => m.device).sort(), [...devices].sort(), 'one DBIRTH per configured device');
  const aliases = new Map();
  const allAliases = new Set((nb.payload.metrics || []).filter((m) => m.alias !== undefined).map((m) => m.alias));
  const tagPaths = Object.keys(tags);
  let metricCount = 0;
  for (const b of births) {
    assert.equal(b.node, nb.node);
    const map = new Map();
    for (const m of b.payload.metrics) {
      metricCount++;
      assert.equal(typeof m.name, 'string', `DBIRTH ${b.device} metric without a name`);
      assert.equal(typeof m.alias, 'number', `DBIRTH ${b.device}/${m.name} without an alias`);
      assert.ok(!allAliases.has(m.alias), `alias ${m.alias} used twice in the node`);
      allAliases.add(m.alias);
      assert.equal(typeof m.timestamp, 'number', `DBIRTH ${b.device}/${m.name} has a timestamp`);
      const candidates = tagPaths.filter((p) => p.endsWith('/' + m.name));
      assert.ok(candidates.length >= 1, `DBIRTH metric ${b.device}/${m.name} matches no tag path`);
      const types = new Set(candidates.map((p) => SPB_TYPE_OF[tags[p].type]));
      assert.ok(types.has(m.type), `DBIRTH ${b.device}/${m.name}: datatype ${m.type}, tags have ${[...types]}`);
      const props = m.properties || {};
      assert.ok(props.Quality, `DBIRTH ${b.device}/${m.name} lacks the Quality property: ${JSON.stringify(m)}`);
      assert.equal(props.Quality.type, 'Int32');
      assert.ok([0, 64, 192].includes(props.Quality.value), `Quality ${props.Quality.value}`);
      assert.ok(props.StatusCode, `DBIRTH ${b.device}/${m.name} lacks the StatusCode property`);
      assert.equal(props.StatusCode.type, 'UInt32');
      map.set(m.alias, m);
    }
    aliases.set(b.device, map);
  }
  assert.equal(metricCount, tagPaths.length, 'the DBIRTHs carry every tag once');
  return { bdSeq: bd.value, aliases, node: nb.node };
}

// Asserts seq continuity (+1 mod 256) over msgs; returns how many wraps.
function checkSeq(msgs) {
  let wraps = 0;
  for (let i = 1; i < msgs.length; i++) {
    const want = (msgs[i - 1].payload.seq + 1) % 256;
    if (msgs[i].type === 'NBIRTH') continue; // a (re)birth restarts at 0
    assert.equal(msgs[i].payload.seq, want,
      `seq of ${msgs[i].topic} is ${msgs[i].payload.seq} after ${msgs[i - 1].payload.seq} (${msgs[i - 1].topic})`);
    if (want === 0) wraps++;
  }
  return wraps;
}

// Asserts that DDATA messages carry aliases only, all from their DBIRTH.
function checkDdata(msgs, aliases) {
  let n = 0;
  for (const m of msgs) {
    if (m.type !== 'DDATA') continue;
    const known = aliases.get(m.device);
    assert.ok(known, `DDATA for unknown device ${m.device}`);
    assert.ok(m.payload.metrics.length > 0, `empty DDATA ${m.topic}`);
    for (const x of m.payload.metrics) {
      assert.equal(x.name, undefined, `DDATA ${m.device} metric with a name (${x.name}): aliases only`);
      assert.ok(known.has(x.alias), `DDATA ${m.device}: alias ${x.alias} not in its DBIRTH`);
      n++;
    }
  }
  return n;
}

async function deviceNames(gw) {
  return (await gw.health()).devices.map((d) => d.name);
}

async function waitGood(gw) {
  return waitUntil(async () => {
    const all = await gw.tags();
    const list = Object.values(all);
    return list.length && list.every((x) => x.quality === 'Good') ? all : null;
  }, 30000, 'demo tags Good');
}

test('Sparkplug B: births, aliases, seq wrap, rebirth, DCMD refused, malformed NCMD, NDEATH Will', { timeout: 300000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const broker = await new Broker(procs).start();
  const sub = await subscriber(procs, broker.url(), ['spBv1.0/#']);
  const simBase = await freePortRange(PLANT_PORTS);
  const gw = await new Airlock(procs, ['--mqtt', broker.url(), '--sparkplug', GROUP,
    '--sim-port-base', String(simBase)]).start();
  const tags = await waitGood(gw);
  const devices = await deviceNames(gw);

  await waitUntil(() => spbMessages(sub).length > devices.length + 1, 20000, 'NBIRTH and DBIRTHs');
  const first = checkBirths(spbMessages(sub), tags, devices);
  const node = first.node;
  const pub = await gw.publisher('cli');
  assert.equal(pub.kind, 'sparkplug');
  assert.equal(pub.state, 'connected', JSON.stringify(pub));

  // seq counts over every message and wraps 255 -> 0.
  await waitUntil(() => {
    const msgs = spbMessages(sub);
    return msgs.length > 300;
  }, 150000, 'more than 300 Sparkplug messages (a seq wrap)', 500);
  let msgs = spbMessages(sub);
  assert.ok(checkSeq(msgs) >= 1, 'seq wrapped 255 -> 0');
  assert.ok(checkDdata(msgs, first.aliases) > 0, 'DDATA metrics arrived');
  assert.ok(msgs.slice(1).every((m) => m.type !== 'NBIRTH'), 'no unasked rebirth');

  // A malformed NCMD is ignored: the node keeps publishing, seq continues.
  const ncmd = `spBv1.0/${GROUP}/NCMD/${node}`;
  const probe = await subscriber(procs, broker.url(), []);
  const before = spbMessages(sub).length;
  await probe.publishAsync(ncmd, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x01]), { qos: 1 });
  await probe.publishAsync(ncmd, Buffer.from('not protobuf at all'), { qos: 1 });
  await waitUntil(() => spbMessages(sub).length > before + 10, 20000, 'DDATA after malformed NCMDs');
  gw.child.assertAlive();
  msgs = spbMessages(sub);
  checkSeq(msgs);
  assert.ok(msgs.slice(1).every((m) => m.type !== 'NBIRTH'), 'a malformed NCMD caused a rebirth');

  // DCMD: refused and logged; the value does not change.
  const dev = devices[0];
  const birthOfDev = [...first.aliases.get(dev).values()];
  const target = birthOfDev.find((m) => m.type === 'Double') || birthOfDev[0];
  const targetPath = Object.keys(tags).find((p) => p.endsWith('/' + target.name));
  const stderrBefore = gw.child.stderrText.length;
  const dcmd = sparkplug.encodePayload({ timestamp: Date.now(), metrics: [
    { name: target.name, type: target.type, value: target.type === 'Boolean' ? true : (target.type === 'String' ? 'x' : 12345) }] });
  await probe.publishAsync(`spBv1.0/${GROUP}/DCMD/${node}/${dev}`, dcmd, { qos: 1 });
  await waitUntil(() => /DCMD/i.test(gw.child.stderrText.slice(stderrBefore)), 10000, 'the refused DCMD logged');
  await sleep(1000);
  const after = (await gw.tags())[targetPath];
  assert.notEqual(after.value, 12345, `${targetPath} took the DCMD value`);
  gw.child.assertAlive();

  // Rebirth on NCMD Node Control/Rebirth = true: same bdSeq, seq from 0.
  const countBefore = spbMessages(sub).length;
  const rebirth = sparkplug.encodePayload({ timestamp: Date.now(), metrics: [
    { name: 'Node Control/Rebirth', type: 'Boolean', value: true }] });
  await probe.publishAsync(ncmd, rebirth, { qos: 1 });
  await waitUntil(() => spbMessages(sub).slice(countBefore).filter((m) => m.type === 'DBIRTH').length >= devices.length,
    20000, 'NBIRTH and DBIRTHs after the rebirth command');
  const afterRebirth = spbMessages(sub); // decoded once: indexOf compares objects
  const reborn = sinceLastNbirth(afterRebirth);
  assert.ok(reborn.length > 0 && afterRebirth.indexOf(reborn[0]) >= countBefore, 'a new NBIRTH');
  const second = checkBirths(reborn, await gw.tags(), devices);
  assert.equal(second.bdSeq, first.bdSeq, 'a rebirth keeps bdSeq');
  await sleep(1500);
  checkSeq(sinceLastNbirth(spbMessages(sub)));
  checkDdata(sinceLastNbirth(spbMessages(sub)), second.aliases);

  // kill -9: the broker publishes the Will, an NDEATH with the NBIRTH's bdSeq.
  await gw.child.kill();
  const death = await waitUntil(() => spbMessages(sub).find((m) => m.type === 'NDEATH'), 15000, 'NDEATH');
  assert.equal(death.topic, `spBv1.0/${GROUP}/NDEATH/${node}`);
  const dbd = metricNamed(death.payload, 'bdSeq');
  assert.ok(dbd, 'NDEATH carries bdSeq');
  assert.equal(dbd.value, first.bdSeq, 'NDEATH bdSeq = NBIRTH bdSeq');
  gw.assertCleanStderr();
});

test('Sparkplug B with a primary host: silent while offline, then BIRTHs and historical values', { timeout: 180000 }, async (t) => {
  const procs = new Procs();
  t.after(() => procs.close());
  const broker = await new Broker(procs).start();
  const sub = await subscriber(procs, broker.url(), ['spBv1.0/#']);
  const dir = procs.tempDir('airlock-e2e-north-spb-');
  const simBase = await freePortRange(PLANT_PORTS);
  await startSim(procs, [], simBase, 6);
  const cfg = path.join(dir, 'airlock.yaml');
  fs.writeFileSync(cfg, simConfig(['--port-base', String(simBase)]) + northYaml([{
    name: 'spb', kind: 'sparkplug', url: broker.url(), qos: 1, group_id: GROUP,
    edge_node: 'edge1', primary_host: 'scada',
  }]));
  const gw = await new Airlock(procs, ['-c', cfg]).start();
  const tags = await waitGood(gw);
  const devices = await deviceNames(gw);

  // Host state unknown: nothing published, values spooled.
  const waiting = await waitUntil(async () => {
    const p = await gw.publisher('spb');
    return p.state === 'waiting_for_host' && p.spooled > 0 ? p : null;
  }, 20000, 'publisher waiting_for_host with spooled values');
  assert.equal(spbMessages(sub).length, 0, `published while the host is unknown: ${spbMessages(sub).map((m) => m.topic)}`);

  // Host offline: still nothing.
  const host = await subscriber(procs, broker.url(), []);
  await host.publishAsync('spBv1.0/STATE/scada', JSON.stringify({ online: false, timestamp: Date.now() }), { qos: 1, retain: true });
  await sleep(2000);
  assert.equal(spbMessages(sub).length, 0, 'published while the host is offline');
  assert.equal((await gw.publisher('spb')).state, 'waiting_for_host');

  // Online: BIRTHs, then the spooled values as historical DDATA, then live.
  const onlineAt = Date.now();
  await host.publishAsync('spBv1.0/STATE/scada', JSON.stringify({ online: true, timestamp: onlineAt }), { qos: 1, retain: true });
  await waitUntil(async () => (await gw.publisher('spb')).state === 'connected', 20000, 'connected after host online');
  await waitUntil(() => spbMessages(sub).some((m) => m.type === 'DDATA'
    && m.payload.metrics.some((x) => !x.isHistorical)), 20000, 'live DDATA after the historical');
  await sleep(1000);
  const msgs = spbMessages(sub);
  assert.equal(msgs[0].node, 'edge1');
  const births = checkBirths(msgs, tags, devices);
  checkSeq(msgs);
  checkDdata(msgs, births.aliases);
  const ddata = msgs.filter((m) => m.type === 'DDATA');
  let historical = 0;
  let liveSeen = false;
  const lastTs = new Map();
  for (const m of ddata) {
    for (const x of m.payload.metrics) {
      if (x.isHistorical) {
        assert.ok(!liveSeen, 'a historical value after live data');
        historical++;
      } else {
        liveSeen = true;
      }
      const key = `${m.device}/${x.alias}`;
      if (lastTs.has(key)) {
        assert.ok(x.timestamp > lastTs.get(key), `${key}: timestamps not increasing (${lastTs.get(key)} then ${x.timestamp})`);
      }
      lastTs.set(key, x.timestamp);
    }
  }
  assert.ok(historical >= waiting.spooled, `historical values ${historical} < spooled ${waiting.spooled} while waiting`);

  // Offline again: publishing stops.
  await host.publishAsync('spBv1.0/STATE/scada', JSON.stringify({ online: false, timestamp: Date.now() }), { qos: 1, retain: true });
  await waitUntil(async () => (await gw.publisher('spb')).state === 'waiting_for_host', 10000, 'waiting_for_host again');
  await sleep(500);
  const n = spbMessages(sub).length;
  await sleep(2500);
  assert.equal(spbMessages(sub).length, n, 'published while the host is offline again');
  await gw.stop();
  gw.assertCleanStderr();
});
