// Shared helpers for the publishing end-to-end tests (test_north_*.mjs):
// free ports, child processes that never outlive the test (mosquitto,
// `airlock run`, `airlock sim`), MQTT subscribers that record what arrives
// (mqtt.js), Sparkplug B decoding (sparkplug-payload, an implementation we
// did not write), the HTTP API and Prometheus metrics of the gateway.
//
// Every process goes through a Procs group whose close() kills what is still
// running and removes the temporary directories (unless AIRLOCK_E2E_KEEP=1).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = process.env.AIRLOCK_SRC || path.resolve(here, '..', '..');
export const MOSQUITTO = process.env.MOSQUITTO || '/usr/sbin/mosquitto';

// A module from NODE_PATH (ctest sets it) or the repository's node_modules.
function load(name) {
  try {
    return require(name);
  } catch {
    return require(path.join(repo, 'node_modules', name));
  }
}
export const mqtt = load('mqtt');
export const sparkplug = load('sparkplug-payload').get('spBv1.0');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function airlockBin() {
  if (process.env.AIRLOCK_BIN) return path.resolve(process.env.AIRLOCK_BIN);
  for (const d of ['build-test', 'build', 'build-e2e']) {
    const p = path.join(repo, d, 'airlock');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('set AIRLOCK_BIN to the airlock executable');
}

// Resolves true when port can be bound on 127.0.0.1 right now.
function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// A port free on 127.0.0.1 right now (the kernel picks it).
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// The first of count consecutive free ports from a random base below the
// ephemeral range (ctest runs jobs in parallel).
export async function freePortRange(count) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

// Resolves true when something accepts TCP connections on port.
export function portListening(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// Calls cond() until it returns a truthy value (returned) or timeoutMs
// passes (throws naming what and the last value or error). A cond() that
// throws counts as "not yet" unless the error has .fatal set.
export async function waitUntil(cond, timeoutMs, what, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
      last = v;
    } catch (e) {
      if (e && e.fatal) throw e;
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}`);
    }
    await sleep(intervalMs);
  }
}

const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
  'ERROR: UndefinedBehaviorSanitizer', 'AddressSanitizer:DEADLYSIGNAL'];

// The first line of a sanitizer report in text, or null.
export function sanitizerReport(text) {
  for (const line of text.split('\n')) {
    if (SANITIZER_MARKERS.some((m) => line.includes(m))) return line;
  }
  return null;
}

// One child process with its stderr kept in memory (stdout to a file).
export class Child {
  constructor(argv, name, { cwd, env } = {}) {
    this.name = name;
    this.argv = argv;
    this.stderrText = '';
    this.exited = null;
    this.proc = spawn(argv[0], argv.slice(1), {
      cwd, env: { ...process.env, ...(env || {}) }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.pid = this.proc.pid;
    this.proc.stderr.on('data', (d) => {
      this.stderrText += d.toString();
      if (this.stderrText.length > 4e6) this.stderrText = this.stderrText.slice(-2e6);
    });
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => { this.exited = { code, signal }; resolve(this.exited); });
    });
  }

  alive() { return this.exited === null; }

  // Throws a fatal error (no retry in waitUntil) when the process has exited.
  assertAlive() {
    if (this.exited) {
      const e = new Error(`${this.name} exited ${JSON.stringify(this.exited)}: ${this.stderrTail()}`);
      e.fatal = true;
      throw e;
    }
  }

  stderrTail(chars = 3000) { return this.stderrText.slice(-chars); }

  // Sends sig and waits up to timeoutMs; returns the exit status or null.
  async stop(sig = 'SIGTERM', timeoutMs = 5000) {
    if (this.exited) return this.exited;
    this.proc.kill(sig);
    const r = await Promise.race([this.exitPromise, sleep(timeoutMs).then(() => null)]);
    return r;
  }

  async kill() {
    if (this.exited) return this.exited;
    this.proc.kill('SIGKILL');
    return this.exitPromise;
  }
}

// Every process and temporary directory of one test.
export class Procs {
  constructor() {
    this.children = [];
    this.dirs = [];
    this.clients = [];
    this.onExit = () => { for (const c of this.children) if (c.alive()) c.proc.kill('SIGKILL'); };
    process.on('exit', this.onExit); // never outlive the test
  }

  start(argv, name, opts) {
    const c = new Child(argv, name, opts);
    this.children.push(c);
    return c;
  }

  tempDir(prefix) {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  // Kills what is still running (SIGTERM, then SIGKILL), ends MQTT clients,
  // removes directories.
  async close() {
    for (const cl of this.clients) await cl.endAsync(true).catch(() => {});
    for (const c of [...this.children].reverse()) {
      if (c.alive() && (await c.stop('SIGTERM', 4000)) === null) await c.kill();
    }
    process.removeListener('exit', this.onExit);
    if (process.env.AIRLOCK_E2E_KEEP !== '1') {
      for (const d of this.dirs) fs.rmSync(d, { recursive: true, force: true });
    } else {
      console.log(`kept: ${this.dirs.join(' ')}`);
    }
  }
}

// ---------------------------------------------------------------- mosquitto

// A mosquitto broker on 127.0.0.1:port (a free one unless given) with a
// configuration in its own directory; persistence on (so that a stopped and
// restarted broker keeps persistent sessions and their queued messages) and
// no limit on queued messages. extraConf: more lines (e.g. password_file).
export class Broker {
  constructor(procs, { port, extraConf = [], anonymous = true } = {}) {
    this.procs = procs;
    this.port = port;
    this.dir = procs.tempDir('airlock-e2e-mosq-');
    this.extraConf = extraConf;
    this.anonymous = anonymous;
    this.child = null;
  }

  url() { return `mqtt://127.0.0.1:${this.port}`; }

  async start() {
    if (!this.port) this.port = await freePort();
    const conf = path.join(this.dir, 'mosquitto.conf');
    fs.writeFileSync(conf, [
      `listener ${this.port} 127.0.0.1`,
      `allow_anonymous ${this.anonymous}`,
      'persistence true',
      `persistence_location ${this.dir}/`,
      'autosave_interval 0',
      'max_queued_messages 0',
      'max_queued_bytes 0',
      'max_inflight_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      // As root mosquitto would drop to user mosquitto, which cannot use
      // our private temporary directories.
      ...(process.getuid && process.getuid() === 0 ? ['user root'] : []),
      ...this.extraConf,
      '',
    ].join('\n'));
    this.child = this.procs.start([MOSQUITTO, '-c', conf], 'mosquitto', { cwd: this.dir });
    await waitUntil(async () => {
      this.child.assertAlive();
      return portListening(this.port);
    }, 15000, `mosquitto listening on ${this.port}`, 50);
    return this;
  }

  // SIGTERM: mosquitto saves its persistence file on the way out.
  async stop() {
    if (this.child && this.child.alive()) {
      const r = await this.child.stop('SIGTERM', 10000);
      if (r === null) await this.child.kill();
    }
  }
}

// ---------------------------------------------------------------- airlock

// ---------------------------------------------------------------- credentials

export const E2E_ADMIN = 'e2e-admin';
export const E2E_PASSWORD = 'e2e-password-0123456789';

// Creates (if needed) a user in dataDir with the CLI a person would use and
// returns a new API token of theirs (every route but health needs one).
export function provisionAdmin(dataDir, { user = E2E_ADMIN, password = E2E_PASSWORD, role = 'admin' } = {}) {
  fs.mkdirSync(dataDir, { recursive: true });
  spawnSync(airlockBin(), ['user', 'add', user, '--role', role, '--password-stdin', '--data', dataDir],
    { input: `${password}\n`, encoding: 'utf8', timeout: 60000 }); // fails harmlessly if the user exists
  const r = spawnSync(airlockBin(), ['token', 'create', '--user', user, '--name', `e2e-${process.pid}`,
    '--data', dataDir], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `airlock token create failed: ${r.stderr}`);
  return r.stdout.trim();
}

// `airlock run ARGS --http 127.0.0.1:<free> [--data <temp>]`.
export class Airlock {
  constructor(procs, args, { dataDir, httpPort, name = 'airlock' } = {}) {
    this.procs = procs;
    this.args = args;
    this.dataDir = dataDir || procs.tempDir('airlock-e2e-north-data-');
    this.httpPort = httpPort;
    this.name = name;
    this.child = null;
    this.all = [];
  }

  async start(readyTimeoutMs = 30000) {
    if (!this.httpPort) this.httpPort = await freePort();
    this.base = `http://127.0.0.1:${this.httpPort}`;
    const argv = [airlockBin(), 'run', ...this.args, '--http', `127.0.0.1:${this.httpPort}`];
    if (!this.args.includes('--data')) argv.push('--data', this.dataDir);
    else this.dataDir = this.args[this.args.indexOf('--data') + 1];
    if (!this.token) this.token = provisionAdmin(this.dataDir);
    this.child = this.procs.start(argv, this.name);
    this.all.push(this.child);
    // Our process must say it serves this address: with tests running in
    // parallel, another test's gateway may have taken a "free" port first,
    // and its answers must not be taken for ours.
    const banner = `dashboard and API at http://127.0.0.1:${this.httpPort}/`;
    await waitUntil(async () => {
      this.child.assertAlive();
      if (!this.child.stderrText.includes(banner)) return false;
      const r = await fetch(`${this.base}/api/v1/health`);
      return r.status === 200;
    }, readyTimeoutMs, 'airlock HTTP');
    return this;
  }

  async get(p, init = {}) {
    this.child.assertAlive();
    const headers = { Authorization: `Bearer ${this.token}`, ...(init.headers || {}) };
    return fetch(this.base + p, { ...init, headers });
  }

  async json(p) {
    const r = await this.get(p);
    assert.equal(r.status, 200, `GET ${p}`);
    return r.json();
  }

  async health() { return this.json('/api/v1/health'); }

  // The health object of publisher `name` (throws when absent).
  async publisher(name) {
    const h = await this.health();
    assert.ok(Array.isArray(h.north), `/api/v1/health has no north list: ${JSON.stringify(h).slice(0, 500)}`);
    const p = h.north.find((x) => x.name === name);
    assert.ok(p, `publisher ${name} not in health.north: ${JSON.stringify(h.north)}`);
    return p;
  }

  async metrics() {
    const r = await this.get('/metrics');
    assert.equal(r.status, 200, 'GET /metrics');
    return r.text();
  }

  // {path: tag} from /api/v1/tags.
  async tags() {
    const body = await this.json('/api/v1/tags');
    return Object.fromEntries(body.tags.map((t) => [t.path, t]));
  }

  stderr() { return this.all.map((c) => c.stderrText).join('\n'); }

  // Asserts that no process of this gateway wrote a sanitizer report.
  assertCleanStderr() {
    for (const c of this.all) {
      const line = sanitizerReport(c.stderrText);
      assert.equal(line, null, `sanitizer report in airlock's stderr: ${line}\n${c.stderrTail(6000)}`);
    }
  }

  // SIGTERM and wait (fails if it does not exit within timeoutMs).
  async stop(timeoutMs = 15000) {
    const r = await this.child.stop('SIGTERM', timeoutMs);
    assert.ok(r, `airlock did not exit within ${timeoutMs} ms of SIGTERM`);
    return r;
  }
}

// The gateway configuration (YAML) for what `airlock sim ARGS` serves, from
// `airlock sim --print-config`, with every poll group's interval replaced
// by intervalMs when given.
export function simConfig(simArgs, intervalMs) {
  const r = spawnSync(airlockBin(), ['sim', ...simArgs, '--print-config'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `airlock sim --print-config: ${r.stderr}`);
  let y = r.stdout;
  if (intervalMs) y = y.replace(/interval_ms: \d+/g, `interval_ms: ${intervalMs}`);
  return y;
}

// Starts `airlock sim ARGS --port-base base` serving count devices and waits
// until the first and last device listen.
export async function startSim(procs, simArgs, base, count) {
  const c = procs.start([airlockBin(), 'sim', ...simArgs, '--port-base', String(base)], 'sim');
  await waitUntil(async () => {
    c.assertAlive();
    return (await portListening(base)) && (await portListening(base + count - 1));
  }, 20000, `airlock sim on ports ${base}..${base + count - 1}`);
  return c;
}

// A YAML `north:` section from a list of plain objects (two levels deep at
// most: spool and tls are maps of scalars).
export function northYaml(publishers) {
  const scalar = (v) => (Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(', ')}]`
    : (typeof v === 'string' ? JSON.stringify(v) : String(v)));
  const lines = ['north:'];
  for (const p of publishers) {
    let first = true;
    for (const [k, v] of Object.entries(p)) {
      const lead = first ? '  - ' : '    ';
      first = false;
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        lines.push(`${lead}${k}:`);
        for (const [k2, v2] of Object.entries(v)) lines.push(`      ${k2}: ${scalar(v2)}`);
      } else {
        lines.push(`${lead}${k}: ${scalar(v)}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- MQTT

// Connects an mqtt.js client (registered for cleanup) and subscribes to
// topics at QoS qos. Every message is recorded in .messages as
// {topic, payload (Buffer), retain, at (Date.now())}; onMessage, when
// given, is also called. Options go to mqtt.connectAsync.
export async function subscriber(procs, url, topics, { qos = 1, onMessage, keep = true, ...opts } = {}) {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, connectTimeout: 5000, ...opts });
  procs.clients.push(client);
  client.messages = [];
  client.on('message', (topic, payload, packet) => {
    const m = { topic, payload, retain: packet.retain, at: Date.now() };
    if (keep) client.messages.push(m);
    if (onMessage) onMessage(m);
  });
  if (topics.length) await client.subscribeAsync(topics, { qos });
  return client;
}

// The decoded Sparkplug payload with plain numbers for Longs (timestamps,
// seq, bdSeq values and aliases fit in 2^53).
export function decodeSpb(buf) {
  const p = sparkplug.decodePayload(buf);
  return normalizeLongs(p);
}

function normalizeLongs(x) {
  if (x === null || x === undefined) return x;
  if (typeof x === 'object' && typeof x.low === 'number' && typeof x.high === 'number'
      && typeof x.toNumber === 'function') return x.toNumber();
  if (Buffer.isBuffer(x) || x instanceof Uint8Array) return x;
  if (Array.isArray(x)) return x.map(normalizeLongs);
  if (typeof x === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(x)) o[k] = normalizeLongs(v);
    return o;
  }
  return x;
}

// The metric named name in a decoded payload, or undefined.
export function metricNamed(payload, name) {
  return (payload.metrics || []).find((m) => m.name === name);
}

// ---------------------------------------------------------------- metrics

// Prometheus text -> [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// The value of metric name with the given labels (undefined when absent).
export function metricValue(text, name, labels = {}) {
  const hit = parseMetrics(text).find((s) => s.name === name
    && Object.entries(labels).every(([k, v]) => s.labels[k] === String(v)));
  return hit ? hit.value : undefined;
}
