// Our Sparkplug B bytes against a decoder we did not write: the npm package
// sparkplug-payload (Eclipse Tahu's JavaScript codec, on protobufjs). The
// unit-test executable test_spb_codec (next to the airlock executable) writes
// fixed payloads with spb_encode when AIRLOCK_SPB_DUMP_DIR is set; they are
// decoded here and checked value for value. The other way round,
// sparkplug-payload encodes an NCMD (Node Control/Rebirth = true, and other
// datatypes) that test_spb_codec decodes with spb_decode
// (AIRLOCK_SPB_DECODE_FILE) and prints as JSON.
//
// Note: sparkplug-payload 1.0.3 reads and writes UInt32 in long_value, where
// Sparkplug 3.0 (6.4.16) puts it in int_value, as we do; so its decoded
// StatusCode property is null, and the StatusCode is checked on the raw
// protobuf fields instead (protobufjs with the package's schema).
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_spb_interop.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = process.env.AIRLOCK_SRC || path.resolve(here, '..', '..');

function requireFromRepo(name) {
  try {
    return require(name);
  } catch {
    return require(path.join(repo, 'node_modules', name));
  }
}

const sparkplug = requireFromRepo('sparkplug-payload').get('spBv1.0');
const rawSchema = requireFromRepo('sparkplug-payload/lib/sparkplugPayloadProto.js');
const RawPayload = rawSchema.org.eclipse.tahu.protobuf.Payload;

// The test_spb_codec executable: in the directory of AIRLOCK_BIN.
function codecTestBin() {
  const dirs = [];
  if (process.env.AIRLOCK_BIN) dirs.push(path.dirname(process.env.AIRLOCK_BIN));
  for (const d of ['build-test', 'build']) dirs.push(path.join(repo, d));
  for (const d of dirs) {
    const p = path.join(d, 'test_spb_codec');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('test_spb_codec not found: set AIRLOCK_BIN to the airlock executable of a build');
}

const big = (v) => BigInt(v.toString()); // a protobufjs Long (or number) as a BigInt

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-spb-'));
process.on('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));

function dumpOurPayloads() {
  execFileSync(codecTestBin(), [], { env: { ...process.env, AIRLOCK_SPB_DUMP_DIR: workDir } });
  return {
    nbirth: fs.readFileSync(path.join(workDir, 'nbirth.bin')),
    ddata: fs.readFileSync(path.join(workDir, 'ddata.bin')),
  };
}

function decodeWithOurs(bytes, name) {
  const file = path.join(workDir, name);
  fs.writeFileSync(file, bytes);
  const out = execFileSync(codecTestBin(), [], {
    env: { ...process.env, AIRLOCK_SPB_DECODE_FILE: file },
  });
  return JSON.parse(out.toString());
}

test('an NBIRTH we encode decodes with sparkplug-payload', () => {
  const { nbirth } = dumpOurPayloads();
  const p = sparkplug.decodePayload(nbirth);
  assert.equal(big(p.timestamp), 1700000000000n);
  assert.equal(big(p.seq), 0n);
  assert.equal(p.metrics.length, 10);
  const byName = Object.fromEntries(p.metrics.map((m) => [m.name, m]));

  const expect = [
    // name, alias, type, value check
    ['bdSeq', 1, 'UInt64', (v) => assert.equal(big(v), 3n)],
    ['Node Control/Rebirth', 2, 'Boolean', (v) => assert.equal(v, false)],
    ['pumping/flow', 3, 'Double', (v) => assert.equal(v, 12.5)],
    ['pumping/count', 4, 'Int64', (v) => assert.equal(big(v), -123456789012n)],
    ['pumping/total', 5, 'UInt64', (v) => assert.equal(big(v), 18446744073709551615n)],
    ['pumping/state', 6, 'String', (v) => assert.equal(v, 'läuft €')],
    ['pumping/empty', 7, 'String', (v) => assert.equal(v, '')],
    ['pumping/nan', 8, 'Double', (v) => assert.ok(Number.isNaN(v))],
    ['pumping/missing', 9, 'Double', (v) => assert.equal(v, null)],
    ['pumping/running', 10, 'Boolean', (v) => assert.equal(v, true)],
  ];
  for (const [name, alias, type, checkValue] of expect) {
    const m = byName[name];
    assert.ok(m, `metric ${name} is there`);
    assert.equal(big(m.alias), BigInt(alias), `${name} alias`);
    assert.equal(m.type, type, `${name} type`);
    assert.equal(big(m.timestamp), 1700000000000n + BigInt(alias), `${name} timestamp`);
    assert.notEqual(m.isHistorical, true, `${name} is live`);
    checkValue(m.value);
  }

  // Quality as Ignition reads it (Int32: 192 Good, 64 Uncertain, 0 Bad).
  assert.deepEqual(byName['pumping/flow'].properties.Quality, { type: 'Int32', value: 192 });
  assert.deepEqual(byName['pumping/count'].properties.Quality, { type: 'Int32', value: 64 });
  assert.deepEqual(byName['pumping/missing'].properties.Quality, { type: 'Int32', value: 0 });
  assert.equal(byName['pumping/flow'].properties.StatusCode.type, 'UInt32');
  assert.equal(byName['bdSeq'].properties, undefined);

  // StatusCode on the raw fields: UInt32 (7) in int_value, per spec 3.0.
  const raw = RawPayload.decode(nbirth);
  const statusOf = (name) => {
    const props = raw.metrics.find((m) => m.name === name).properties;
    const i = props.keys.indexOf('StatusCode');
    assert.ok(i >= 0, `${name} has a StatusCode`);
    assert.equal(props.values[i].type, 7);
    return props.values[i].intValue >>> 0;
  };
  assert.equal(statusOf('pumping/flow'), 0x00000000);
  assert.equal(statusOf('pumping/count'), 0x40900000);
  assert.equal(statusOf('pumping/missing'), 0x80050000);
  assert.equal(raw.metrics.find((m) => m.name === 'pumping/missing').isNull, true);
});

test('a DDATA we encode (aliases only, historical) decodes with sparkplug-payload', () => {
  const { ddata } = dumpOurPayloads();
  const p = sparkplug.decodePayload(ddata);
  assert.equal(big(p.seq), 255n);
  assert.equal(big(p.timestamp), 1700000000500n);
  assert.equal(p.metrics.length, 2);
  const [a, b] = p.metrics;
  assert.equal(a.name, undefined);
  assert.equal(big(a.alias), 3n);
  assert.equal(a.type, 'Double');
  assert.equal(a.value, -0.5);
  assert.equal(a.isHistorical, true);
  assert.equal(big(a.timestamp), 1600000000000n);
  assert.equal(b.name, undefined);
  assert.equal(big(b.alias), 4n);
  assert.equal(b.type, 'Int64');
  assert.equal(big(b.value), 7n);
  assert.notEqual(b.isHistorical, true);
  assert.deepEqual(b.properties.Quality, { type: 'Int32', value: 0 });
});

test('an NCMD encoded by sparkplug-payload decodes with ours', () => {
  const bytes = sparkplug.encodePayload({
    timestamp: 1700000001234,
    metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
  });
  const d = decodeWithOurs(bytes, 'ncmd.bin');
  assert.equal(d.ok, true);
  assert.equal(d.timestamp, 1700000001234);
  assert.equal(d.seq, null);
  assert.equal(d.skipped, 0);
  assert.equal(d.metrics.length, 1);
  assert.equal(d.metrics[0].name, 'Node Control/Rebirth');
  assert.equal(d.metrics[0].type, 'bool');
  assert.equal(d.metrics[0].value, true);
  assert.equal(d.metrics[0].is_null, false);
});

test('other datatypes encoded by sparkplug-payload decode with ours', () => {
  const bytes = sparkplug.encodePayload({
    timestamp: 5,
    seq: 9,
    metrics: [
      { name: 'i8', alias: 1, type: 'Int8', value: -3, timestamp: 6 },
      { name: 'i32', alias: 2, type: 'Int32', value: -2000000000 },
      { name: 'u16', alias: 3, type: 'UInt16', value: 65535 },
      { name: 'u32', alias: 4, type: 'UInt32', value: 4000000000 },
      { name: 'f', alias: 5, type: 'Float', value: 1.5 },
      { name: 'txt', alias: 6, type: 'Text', value: 'ein Text ✓' },
      { name: 'dt', alias: 7, type: 'DateTime', value: 1700000000000 },
      { name: 'bytes', alias: 8, type: 'Bytes', value: Buffer.from([1, 2, 3]) },
      { name: 'nothing', alias: 9, type: 'Double', value: null },
      {
        name: 'q',
        alias: 10,
        type: 'Int64',
        value: -5,
        isHistorical: true,
        properties: { Quality: { type: 'Int32', value: 64 } },
      },
    ],
  });
  const d = decodeWithOurs(bytes, 'mixed.bin');
  assert.equal(d.ok, true);
  assert.equal(d.seq, 9);
  assert.equal(d.skipped, 1, 'the Bytes metric is skipped and counted');
  const byName = Object.fromEntries(d.metrics.map((m) => [m.name, m]));
  assert.deepEqual(
    d.metrics.map((m) => m.name),
    ['i8', 'i32', 'u16', 'u32', 'f', 'txt', 'dt', 'nothing', 'q'],
  );
  assert.equal(byName.i8.type, 'int64');
  assert.equal(byName.i8.value, '-3');
  assert.equal(byName.i8.timestamp, 6);
  assert.equal(byName.i32.value, '-2000000000');
  assert.equal(byName.u16.type, 'uint64');
  assert.equal(byName.u16.value, '65535');
  assert.equal(byName.u32.value, '4000000000');
  assert.equal(byName.f.type, 'double');
  assert.equal(byName.f.value, 1.5);
  assert.equal(byName.txt.type, 'string');
  assert.equal(byName.txt.value, 'ein Text ✓');
  assert.equal(byName.dt.type, 'uint64');
  assert.equal(byName.dt.value, '1700000000000');
  assert.equal(byName.nothing.is_null, true);
  assert.equal(byName.nothing.type, 'double');
  assert.equal(byName.q.value, '-5');
  assert.equal(byName.q.is_historical, true);
  assert.equal(byName.q.quality, 0x40000000, 'Quality 64 reads as Uncertain');
  assert.equal(byName.q.alias, 10);
});

test('garbage is refused by our decoder, not crashed on', () => {
  const file = path.join(workDir, 'garbage.bin');
  fs.writeFileSync(file, Buffer.from([0xff, 0xff, 0xff, 0xff]));
  let failed = false;
  try {
    execFileSync(codecTestBin(), [], {
      env: { ...process.env, AIRLOCK_SPB_DECODE_FILE: file },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    failed = true;
    assert.equal(e.status, 1);
    assert.equal(JSON.parse(e.stdout.toString()).ok, false);
  }
  assert.ok(failed);
});
