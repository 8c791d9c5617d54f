// Store-and-forward through broker outages (docs/north.md, "Store-and-
// forward"): `airlock sim` serves 1,000 holding registers counting up every
// 100 ms, polled every 100 ms (10,000 values/s), published as UNS JSON at QoS
// 1 to a mosquitto started here. The broker is stopped for AIRLOCK_OUTAGE_S
// seconds (default 60) and started again on the same port; the subscriber
// (a persistent session, subscribed before the gateway publishes) must then
// have every value the gateway collected, once, in order: per tag, exactly
// the samples of the gateway's own historian (/api/v1/history), timestamps
// strictly increasing, the counter advancing by one except where the
// historian has the same gap. Then the same with the gateway restarted
// (SIGTERM, start again on the same data directory) in the middle of the
// outage, and with a spool too small: the drop is counted in /metrics and
// alarmed in health, only the oldest samples of the outage are missing, and
// the last values before the reconnect arrive.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_north_outage.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  Airlock, Broker, Procs, freePortRange, metricValue, northYaml, simConfig, sleep, startSim,
  subscriber, waitUntil,
} from './north_helpers.mjs';

const OUTAGE_S = Number(process.env.AIRLOCK_OUTAGE_S || 60);
const REGISTERS = 1000; // x 10 changes/s = 10,000 values/s
const POLL_MS = 100; // every reading is a sample: 1,000 x 10/s
const PREFIX = 'uns/';

// Records what a subscriber receives, per tag: [{ts, v, q}] in arrival
// order. Redeliveries by the broker itself (the DUP flag set, same content
// as a message already received: MQTT QoS 1 between broker and subscriber,
// not airlock's doing) are counted and left out.
class Recorder {
  constructor() {
    this.byTag = new Map();
    this.total = 0;
    this.brokerRedeliveries = 0;
  }

  add(topic, payload, dup) {
    const tag = topic.slice(PREFIX.length);
    const b = JSON.parse(payload.toString('utf8'));
    let list = this.byTag.get(tag);
    if (!list) this.byTag.set(tag, (list = []));
    if (dup && list.some((x) => x.ts === b.timestamp && x.v === b.value)) {
      this.brokerRedeliveries++;
      return;
    }
    list.push({ ts: b.timestamp, v: b.value, q: b.quality, dup: !!dup, n: this.total });
    this.total++;
  }

  // The newest timestamp received for every tag (Infinity-safe minimum).
  minLastTs() {
    let min = Infinity;
    for (const l of this.byTag.values()) min = Math.min(min, l.length ? l[l.length - 1].ts : -Infinity);
    return min;
  }
}

// One tag's raw history [{ts, v}] in [from, to) from the gateway.
async function history(gw, tag, from, to) {
  const out = [];
  let start = from;
  for (;;) {
    const body = await gw.json(`/api/v1/history?tag=${encodeURIComponent(tag)}&from=${start}&to=${to}&limit=100000`);
    for (const s of body.samples) out.push({ ts: Date.parse(s.t), v: s.v, q: s.q });
    if (!body.truncated || body.samples.length === 0) break;
    start = out[out.length - 1].ts + 1;
  }
  return out;
}

// Counter gaps (value not previous + 1 mod 65536) in a list of samples.
function counterGaps(list) {
  let gaps = 0;
  for (let i = 1; i < list.length; i++) if (list[i].v !== (list[i - 1].v + 1) % 65536) gaps++;
  return gaps;
}

// Runs one outage scenario; returns diagnostics for the test's message.
async function outage(t, { restartGateway = false, spoolMax = null }) {
  const procs = new Procs();
  t.after(() => procs.close());
  const broker = await new Broker(procs).start();
  const rec = new Recorder();
  await subscriber(procs, broker.url(), [`${PREFIX}#`], {
    qos: 1, keep: false, clientId: `outage-sub-${process.pid}-${Date.now()}`, clean: false,
    onMessage: null,
  }).then((c) => {
    c.on('message', (topic, payload, packet) => {
      if (topic.startsWith(PREFIX)) rec.add(topic, payload, packet.dup);
    });
  });

  const dir = procs.tempDir('airlock-e2e-north-outage-');
  const simBase = await freePortRange(4);
  const simArgs = ['--bench-devices', '1', '--bench-registers', String(REGISTERS)];
  await startSim(procs, simArgs, simBase, 1);
  const pubCfg = { name: 'uns-out', kind: 'uns', url: broker.url(), qos: 1, prefix: 'uns' };
  if (spoolMax) pubCfg.spool = { max_size: spoolMax };
  const cfg = path.join(dir, 'airlock.yaml');
  fs.writeFileSync(cfg, simConfig([...simArgs, '--port-base', String(simBase)], POLL_MS) + northYaml([pubCfg]));
  const startedAt = Date.now() - 1000;
  let gw = await new Airlock(procs, ['-c', cfg]).start();
  const dataDir = gw.dataDir;

  await waitUntil(() => rec.byTag.size === REGISTERS, 30000, `values of all ${REGISTERS} tags`);
  await sleep(3000);
  const rateFrom = rec.total;
  await sleep(2000);
  const liveRate = (rec.total - rateFrom) / 2;

  // The outage.
  await broker.stop();
  const downAt = Date.now();
  await waitUntil(async () => {
    const p = await gw.publisher('uns-out');
    return p.state !== 'connected' && p.spooled > 0 ? p : null;
  }, 20000, 'publisher disconnected and spooling');
  let restartedAt = null;
  if (restartGateway) {
    await sleep((OUTAGE_S * 1000) / 2);
    const before = await gw.publisher('uns-out');
    assert.ok(before.spooled > 0, 'spooled before the restart');
    await gw.stop();
    gw.assertCleanStderr();
    gw = await new Airlock(procs, ['-c', cfg], { dataDir }).start();
    restartedAt = Date.now();
    const after = await gw.publisher('uns-out');
    assert.ok(after.spooled > 0, `the spool survived the restart (spooled ${after.spooled} after, ${before.spooled} before)`);
  }
  await sleep(Math.max(0, downAt + OUTAGE_S * 1000 - Date.now()));
  const spooledAtEnd = (await gw.publisher('uns-out')).spooled;
  const upAt = Date.now();
  await broker.start();

  // Replay, then live data again.
  await waitUntil(async () => {
    const p = await gw.publisher('uns-out');
    return p.state === 'connected' && p.spooled === 0;
  }, 180000, 'spool replayed', 250);
  await waitUntil(() => rec.minLastTs() > Date.now() - 3000, 60000, 'live values of every tag after the replay', 250);
  const cut = Date.now() - 2000; // compare everything before this instant
  const health = await gw.publisher('uns-out');
  const metrics = await gw.metrics();

  // Ground truth: the gateway's historian.
  const truth = new Map();
  for (const tag of rec.byTag.keys()) truth.set(tag, await history(gw, tag, startedAt, cut));
  const truthTotal = [...truth.values()].reduce((a, l) => a + l.length, 0);
  await waitUntil(() => [...truth.keys()].every((tag) => {
    const l = rec.byTag.get(tag);
    return l.length && l[l.length - 1].ts >= cut - 1;
  }), 30000, 'every tag received past the comparison instant');

  const diag = { liveRate, spooledAtEnd, truthTotal, received: rec.total,
    brokerRedeliveries: rec.brokerRedeliveries, restartedAt: restartedAt ? restartedAt - downAt : null };
  let missingTotal = 0;
  let historyGaps = 0;
  let inflightDuplicates = 0;
  for (const [tag, want] of truth) {
    let got = rec.byTag.get(tag).filter((x) => x.ts < cut);
    if (restartGateway) {
      // Known limit of MQTT QoS 1 across a gateway restart (docs/north.md):
      // a value the broker took just before it died, but never
      // acknowledged, is sent again after the gateway's restart as a new
      // message. Such exact copies of values from the last 2 s before the
      // outage are counted (diag.inflightDuplicates) and set aside; any
      // other duplicate still fails below.
      const seen = new Set();
      got = got.filter((x) => {
        const key = `${x.ts}:${x.v}`;
        if (seen.has(key) && x.ts >= downAt - 2000 && x.ts <= downAt) {
          inflightDuplicates++;
          return false;
        }
        seen.add(key);
        return true;
      });
    }
    for (let i = 1; i < got.length; i++) {
      assert.ok(got[i].ts > got[i - 1].ts,
        `${tag}: timestamps not strictly increasing at ${i}: ${JSON.stringify(got[i - 1])} then`
        + ` ${JSON.stringify(got[i])} (duplicate or out of order; n = arrival number, dup = MQTT DUP flag;`
        + ` outage ${downAt}..${upAt}; ${JSON.stringify(diag)})`);
    }
    historyGaps += counterGaps(want);
    if (!spoolMax) {
      if (got.length !== want.length || got.some((x, i) => x.ts !== want[i].ts || x.v !== want[i].v)) {
        const firstBad = got.findIndex((x, i) => !want[i] || x.ts !== want[i].ts || x.v !== want[i].v);
        assert.fail(`${tag}: received ${got.length} values, the historian has ${want.length};`
          + ` first difference at ${firstBad}: got ${JSON.stringify(got[firstBad])}, historian ${JSON.stringify(want[firstBad])}`
          + ` (outage ${downAt}..${upAt}; ${JSON.stringify(diag)})`);
      }
      assert.equal(counterGaps(got), counterGaps(want), `${tag}: counter gaps differ from the historian's`);
    } else {
      // A subsequence of the truth; what is missing is the oldest part of the outage.
      const wantByTs = new Map(want.map((x) => [x.ts, x]));
      for (const x of got) {
        const w = wantByTs.get(x.ts);
        assert.ok(w && w.v === x.v, `${tag}: received ${JSON.stringify(x)} that the historian does not have`);
      }
      const gotTs = new Set(got.map((x) => x.ts));
      const missing = want.filter((x) => !gotTs.has(x.ts));
      missingTotal += missing.length;
      if (missing.length) {
        const lastMissing = missing[missing.length - 1].ts;
        assert.ok(missing[0].ts >= downAt - 5000, `${tag}: a value from before the outage is missing (${missing[0].ts})`);
        // What went is the oldest data still pending when the spool filled.
        // That is one run at the start of the outage, plus, when the spool
        // fills again while it is being replayed (live data spills in
        // behind it), runs of the oldest not yet replayed data: never the
        // newest. So every missing value is older than the newest kept one.
        const newestKept = got.length ? got[got.length - 1].ts : -Infinity;
        assert.ok(lastMissing < newestKept,
          `${tag}: the newest data was dropped: missing ${lastMissing}, newest received ${newestKept}`);
      }
      const lastBeforeUp = want.filter((x) => x.ts < upAt).pop();
      assert.ok(gotTs.has(lastBeforeUp.ts), `${tag}: the last value before the reconnect (${lastBeforeUp.ts}) did not arrive`);
    }
  }
  diag.historyCounterGaps = historyGaps;
  diag.inflightDuplicates = inflightDuplicates;
  diag.missing = missingTotal;
  if (spoolMax) {
    const dropped = metricValue(metrics, 'airlock_north_dropped_samples_total', { publisher: 'uns-out' });
    assert.ok(dropped > 0, `airlock_north_dropped_samples_total is ${dropped} with a spool of ${spoolMax}`);
    assert.ok(missingTotal > 0, 'nothing missing although the spool was too small');
    assert.equal(missingTotal, dropped, `values missing at the subscriber (${missingTotal}) != dropped samples counted (${dropped})`);
    assert.ok(health.dropped > 0, `health dropped: ${JSON.stringify(health)}`);
    assert.ok(health.alarm, `no alarm in health after a drop: ${JSON.stringify(health)}`);
    assert.equal((await gw.health()).status, 'degraded', 'a publisher with an alarm degrades the gateway');
    assert.match(gw.stderr(), /drop/i, 'the drop is logged');
    diag.dropped = dropped;
  } else {
    assert.equal(metricValue(metrics, 'airlock_north_dropped_samples_total', { publisher: 'uns-out' }), 0);
    assert.ok(metricValue(metrics, 'airlock_north_reconnects_total', { publisher: 'uns-out' }) >= 1, 'a reconnect counted');
  }
  await gw.stop();
  gw.assertCleanStderr();
  t.diagnostic(JSON.stringify(diag));
  return diag;
}

test(`broker down ${OUTAGE_S} s at 10,000 values/s: every value once, in order`, { timeout: 600000 }, async (t) => {
  await outage(t, {}); // diagnostics say the load reached (liveRate, values/s)
});

test(`broker down ${OUTAGE_S} s, gateway restarted in the middle: every value once, in order`, { timeout: 600000 }, async (t) => {
  await outage(t, { restartGateway: true });
});

test(`broker down ${OUTAGE_S} s with a spool too small: drop counted and alarmed, newest kept`, { timeout: 600000 }, async (t) => {
  await outage(t, { spoolMax: '6MB' });
});
