// The OPC UA client through its command line (`airlock opcua`, docs/opcua.md)
// against a real node-opcua server (tests/e2e/peers/opcua_server.mjs, an
// implementation we did not write), on loopback:
//  - endpoints: None, Basic256Sha256 Sign and SignAndEncrypt;
//  - read: every scalar type, arrays and NodeId kinds, with the exact values
//    of the peer's formulas (README) for the tick k read in the same Read;
//    the large array (many chunks);
//  - browse: the Plant tree with depth, node classes, data types and units;
//  - logins: user name with the right and a wrong password;
//  - security: a server new to us gives the documented "not trusted: move
//    ... to .../trusted/" message, and after moving the file Sign and
//    SignAndEncrypt work; a server that does not trust our certificate gives
//    a clear error, not a crash;
//  - subscribe: data changes in order, security token renewal;
//  - usage errors and unreachable servers.
//
// Run alone: AIRLOCK_BIN=build/airlock node --test tests/e2e/test_opcua_client.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = process.env.AIRLOCK_SRC || path.resolve(here, '..', '..');
const PEER = path.join(repo, 'tests', 'e2e', 'peers', 'opcua_server.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-opcua-client-'));

function airlockBin() {
  if (process.env.AIRLOCK_BIN) return path.resolve(process.env.AIRLOCK_BIN);
  for (const d of ['build-test', 'build', 'build-e2e']) {
    const p = path.join(repo, d, 'airlock');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('set AIRLOCK_BIN to the airlock executable');
}
const BIN = airlockBin();

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// One node-opcua server; its (chatty) stderr goes to a file so that a full
// pipe never stalls it.
class Peer {
  constructor(name, extra = []) {
    this.name = name;
    this.extra = extra;
    this.pki = path.join(tmp, `${name}-server-pki`);
    this.log = path.join(tmp, `${name}-server.log`);
  }

  async start() {
    this.port = await freePort();
    const logFd = fs.openSync(this.log, 'a');
    this.proc = spawn(process.execPath,
      [PEER, '--port', String(this.port), '--pki', this.pki, ...this.extra],
      { stdio: ['ignore', 'pipe', logFd] });
    fs.closeSync(logFd);
    let out = '';
    this.url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} server: no ready line in 60 s (see ${this.log})`)), 60000);
      this.proc.stdout.on('data', (d) => {
        out += d.toString();
        const m = out.match(/^ready (\S+)$/m);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      this.proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} server exited with ${code} before ready (see ${this.log})`));
      });
    });
    return this;
  }

  // The server's own certificate (PEM), which a client must trust.
  certificate() {
    return path.join(this.pki, 'own', 'certs', 'certificate.pem');
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  alive() {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }
}

// Runs `airlock opcua ARGS`; resolves {code, signal, stdout, stderr}.
function opcua(args, { input, env = {}, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['opcua', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d.toString(); });
    p.stderr.on('data', (d) => { stderr += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', reject);
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      assert.doesNotMatch(stderr, /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/,
        `sanitizer report from airlock opcua ${args.join(' ')}:\n${stderr}`);
      resolve({ code, signal, stdout, stderr });
    });
    p.stdin.end(input ?? '');
  });
}

function ok(r, what) {
  assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout.slice(0, 2000)}\nstderr:\n${r.stderr}`);
}

// `read --json` lines, by NodeId text.
function readJson(r) {
  const out = new Map();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const o = JSON.parse(line);
    out.set(o.node, o);
  }
  return out;
}

const trusting = new Peer('trusting', ['--trust-all-clients']); // accepts any client certificate
const strict = new Peer('strict'); // trusts no client certificate
let pki; // our PKI, trusted by `trusting` (all) after the first test that needs it

before(async () => {
  await Promise.all([trusting.start(), strict.start()]);
  pki = path.join(tmp, 'airlock-pki');
}, { timeout: 90000 });

after(async () => {
  await Promise.all([trusting.stop(), strict.stop()]);
  if (!process.env.AIRLOCK_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- formulas

const SCALARS = ['Boolean', 'SByte', 'Byte', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Int64', 'UInt64',
  'Float', 'Double', 'String', 'DateTime', 'Guid', 'ByteString', 'LocalizedText', 'QualifiedName',
  'NodeId', 'StatusCode'];

const hex8 = (k) => k.toString(16).toUpperCase().padStart(8, '0');
const STATUS = ['(0x00000000)', '(0x40900000)', '(0x803C0000)'];

// The value `read --json` prints for the peer's formula f(k) of a type.
function expected(type, k) {
  switch (type) {
    case 'Boolean': return k % 2 === 1;
    case 'SByte': return (k % 256) - 128;
    case 'Byte': return k % 256;
    case 'Int16': return (k % 65536) - 32768;
    case 'UInt16': return k % 65536;
    case 'Int32': return k - 2 ** 31;
    case 'UInt32': return k;
    case 'Int64': return (BigInt(k) - 2n ** 63n).toString();
    case 'UInt64': return (2n ** 64n - 1n - BigInt(k)).toString();
    case 'Float': return k * 0.5;
    case 'Double': return k * 0.25;
    case 'String': return `Value ${k}`;
    case 'DateTime': return new Date(Date.UTC(2024, 0, 1) + k * 1000).toISOString();
    case 'Guid': return `${hex8(k)}-1234-5678-9ABC-DEF012345678`.toLowerCase();
    case 'ByteString': return `0x${hex8(k)}`;
    case 'LocalizedText': return { locale: 'en', text: `Text ${k}` };
    case 'QualifiedName': return { ns: 1, name: `Name${k}` };
    case 'NodeId': return `ns=1;i=${k}`;
    case 'StatusCode': return STATUS[k % 3];
    default: throw new Error(type);
  }
}

function checkValue(type, got, want, where) {
  if (type === 'StatusCode') assert.ok(String(got).includes(want), `${where}: ${got} is not ${want}`);
  else if (type === 'Float') assert.equal(Math.fround(got), Math.fround(want), `${where}: ${got} != ${want}`);
  else assert.deepEqual(got, want, `${where}`);
}

// ---------------------------------------------------------------- tests

test('endpoints: None, Basic256Sha256 Sign and SignAndEncrypt with their logins', async () => {
  const r = await opcua(['endpoints', trusting.url]);
  ok(r, 'endpoints');
  const blocks = r.stdout.split(/^Endpoint \d+: /m).filter(Boolean);
  assert.equal(blocks.length, 3, r.stdout);
  const security = blocks.map((b) => b.match(/security: (.*) \(security level/)[1]);
  assert.deepEqual(security.sort(), ['Basic256Sha256 / Sign', 'Basic256Sha256 / SignAndEncrypt', 'None / None']);
  for (const b of blocks) {
    assert.ok(b.startsWith(trusting.url), b);
    assert.match(b, /user logins: .*UserName \(password encrypted with Basic256Sha256\)/, b);
    assert.match(b, /Anonymous/, b);
    assert.match(b, /server certificate: CN=airlock test OPC UA peer, thumbprint [0-9A-F]{40}, RSA 2048/, b);
  }
  assert.match(r.stdout, /airlock option: --security signandencrypt/);
});

test('read: every scalar type with the exact value of the tick read with it', async () => {
  const nodes = SCALARS.map((t) => `ns=1;s=Scalar.${t}`);
  const r = await opcua(['read', trusting.url, ...nodes, '--json']);
  ok(r, 'read scalars');
  const got = readJson(r);
  const k = got.get('ns=1;s=Scalar.UInt32').value;
  assert.ok(Number.isInteger(k) && k >= 0, `k = ${k}`);
  for (const t of SCALARS) {
    const o = got.get(`ns=1;s=Scalar.${t}`);
    assert.ok(o, `no line for ${t}: ${r.stdout}`);
    assert.equal(o.type, t);
    assert.equal(o.status, 'Good');
    assert.match(o.source_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(o.source_timestamp) - Date.now()) < 600000, o.source_timestamp);
    const v = t === 'Guid' ? o.value.toLowerCase() : o.value;
    checkValue(t, v, expected(t, k), `Scalar.${t} at k=${k}`);
  }
  // The text form: NodeId, type, value, status, source timestamp.
  const t = await opcua(['read', trusting.url, 'ns=1;s=Scalar.Double', 'ns=1;s=Scalar.String']);
  ok(t, 'read text');
  assert.match(t.stdout, /^ns=1;s=Scalar\.Double {2}Double {2}[\d.]+ {2}Good \(0x00000000\) {2}\d{4}-\d\d-\d\dT[\d:.]+Z$/m);
  assert.match(t.stdout, /^ns=1;s=Scalar\.String {2}String {2}"Value \d+" {2}Good/m);
});

test('read: arrays and every NodeId kind', async () => {
  const arrays = ['Boolean', 'SByte', 'UInt16', 'Int32', 'Int64', 'UInt64', 'Float', 'Double', 'String',
    'ByteString', 'NodeId', 'LocalizedText'];
  const kinds = ['ns=1;i=42', 'ns=1;i=1000000', 'ns=1;s=IdKinds.String',
    'ns=1;g=7D3B5F6E-1A2B-4C3D-8E9F-0123456789AB', 'ns=1;b=AQIDBA==', 'ns=1;s=IdKinds.Größe °C'];
  const r = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32',
    ...arrays.map((t) => `ns=1;s=Array.${t}`), ...kinds, '--json']);
  ok(r, 'read arrays');
  const got = readJson(r);
  const k = got.get('ns=1;s=Scalar.UInt32').value;
  const extras = {
    SByte: [-128, 127], UInt16: [0, 65535], Int32: [-(2 ** 31), 2 ** 31 - 1],
    Int64: ['-9223372036854775808', '9223372036854775807'], UInt64: ['0', '18446744073709551615'],
    Float: [-1.5, 3.4028234663852886e38], Double: [-1.5, 1.7976931348623157e308],
    String: ['', 'Grüße ✓'], ByteString: ['0x'],
    NodeId: ['i=85', 'ns=1;i=1000000', 'ns=1;s=Plant', 'ns=1;g=7d3b5f6e-1a2b-4c3d-8e9f-0123456789ab', 'ns=1;b=AQIDBA=='],
  };
  for (const t of arrays) {
    const o = got.get(`ns=1;s=Array.${t}`);
    assert.ok(o, `no line for Array.${t}`);
    const want = [expected(t, k), expected(t, k + 1), expected(t, k + 2), ...(extras[t] ?? [])];
    assert.equal(o.type, `${t}[${want.length}]`);
    assert.equal(o.status, 'Good');
    assert.equal(o.value.length, want.length, `Array.${t}: ${JSON.stringify(o.value)}`);
    want.forEach((w, i) => checkValue(t, o.value[i], w, `Array.${t}[${i}] at k=${k}`));
  }
  for (const id of kinds) {
    const shown = id.startsWith('ns=1;g=') ? id.toLowerCase() : id;
    const o = got.get(shown);
    assert.ok(o, `no line for ${shown}: ${[...got.keys()]}`);
    assert.equal(o.type, 'UInt32');
    assert.equal(o.value, k, `${id} at k=${k}`);
  }
});

test('read: the large array arrives whole over many chunks', async () => {
  const r = await opcua(['read', trusting.url, 'ns=1;s=Large.DoubleArray', '--json', '-v']);
  ok(r, 'read large');
  const o = JSON.parse(r.stdout);
  assert.equal(o.type, 'Double[200000]');
  assert.equal(o.value.length, 200000);
  const k = o.value[0];
  for (let j = 0; j < o.value.length; j++) if (o.value[j] !== k + j) assert.fail(`element ${j} = ${o.value[j]}, not ${k + j}`);
  // About 1.6 MB in chunks of at most 64 KiB.
  const m = r.stderr.match(/chunks of \d+ bytes sent \/ (\d+) received/);
  assert.ok(m && Number(m[1]) <= 65535, r.stderr);
});

test('read: unknown node and bad NodeId text', async () => {
  const r = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32', 'ns=1;s=NoSuchNode']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^ns=1;s=NoSuchNode {2}Null {2}null {2}BadNodeIdUnknown \(0x80340000\)/m);
  assert.match(r.stdout, /^ns=1;s=Scalar\.UInt32 {2}UInt32/m);
  assert.match(r.stderr, /1 of 2 nodes have a Bad status/);
  const bad = await opcua(['read', trusting.url, 'ns=x;s=Oops']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /NodeId 'ns=x;s=Oops'/);
});

test('browse: the Plant tree with depth, classes, data types and units', async () => {
  const r = await opcua(['browse', trusting.url, '--node', 'ns=1;s=Plant', '--depth', '5']);
  ok(r, 'browse');
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], '1:Plant  ns=1;s=Plant  Object');
  const has = (re) => assert.ok(lines.some((l) => re.test(l)), `no line matching ${re} in:\n${r.stdout}`);
  has(/^ {2}1:Area1 {2}ns=1;s=Plant\.Area1 {2}Object$/);
  has(/^ {2}1:Area2 {2}ns=1;s=Plant\.Area2 {2}Object$/);
  has(/^ {6}1:Scalars {2}ns=1;s=Plant\.Area1\.Line1\.Scalars {2}Object$/);
  has(/^ {8}1:Temperature {2}ns=1;s=Analog\.Temperature {2}Variable {2}Double {2}unit=°C$/);
  has(/^ {8}1:Pressure {2}ns=1;s=Analog\.Pressure {2}Variable {2}Double {2}unit=bar$/);
  has(/^ {8}1:Speed {2}ns=1;s=Analog\.Speed {2}Variable {2}Float {2}unit=r\/min$/);
  has(/^ {10}0:EngineeringUnits {2}ns=1;s=Analog\.Temperature-EngineeringUnits {2}Variable {2}EUInformation$/);
  has(/^ {10}0:EURange {2}ns=1;s=Analog\.Temperature-EURange {2}Variable {2}Range$/);
  has(/^ {8}1:Int64 {2}ns=1;s=Scalar\.Int64 {2}Variable {2}Int64$/);
  has(/^ {8}1:Double {2}ns=1;s=Array\.Double {2}Variable {2}Double\[\]$/);
  has(/^ {8}1:GuidId {2}ns=1;g=7d3b5f6e-1a2b-4c3d-8e9f-0123456789ab {2}Variable {2}UInt32$/);
  has(/^ {8}1:UnicodeStringId {2}ns=1;s=IdKinds\.Größe °C {2}Variable {2}UInt32$/);
  has(/^ {6}1:Counter {2}ns=1;s=Line2\.Counter {2}Variable {2}UInt32$/);
  // 19 scalars, 19 arrays.
  assert.equal(lines.filter((l) => /ns=1;s=Scalar\./.test(l)).length, 19);
  assert.equal(lines.filter((l) => /ns=1;s=Array\./.test(l)).length, 19);

  // Depth 1: the children only.
  const one = await opcua(['browse', trusting.url, '--node', 'ns=1;s=Plant', '--depth', '1']);
  ok(one, 'browse depth 1');
  assert.deepEqual(one.stdout.trim().split('\n'), [
    '1:Plant  ns=1;s=Plant  Object',
    '  1:Area1  ns=1;s=Plant.Area1  Object',
    '  1:Area2  ns=1;s=Plant.Area2  Object',
  ]);
  // Default: from Objects.
  const top = await opcua(['browse', trusting.url, '--depth', '1']);
  ok(top, 'browse Objects');
  assert.match(top.stdout, /^0:Objects {2}i=85 {2}Object$/m);
  assert.match(top.stdout, /^ {2}1:Plant {2}ns=1;s=Plant {2}Object$/m);
  assert.match(top.stdout, /^ {2}0:Server {2}i=2253 {2}Object$/m);
});

test('user name login: right password, wrong password', async () => {
  const good = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32', '--user', 'operator', '--password-stdin'],
    { input: 'secret1\n' });
  ok(good, 'login with the right password');
  assert.match(good.stdout, /^ns=1;s=Scalar\.UInt32 {2}UInt32 {2}\d+ {2}Good/m);
  const env = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32', '--user', 'operator'],
    { env: { AIRLOCK_OPCUA_PASSWORD: 'secret1' } });
  ok(env, 'login with the password from the environment');
  const bad = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32', '--user', 'operator', '--password-stdin'],
    { input: 'wrong\n' });
  assert.equal(bad.code, 1, bad.stderr);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /ActivateSession: .*BadUserAccessDenied \(0x801F0000\).*refused the user name or password/);
  const none = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32', '--user', 'operator'],
    { env: { AIRLOCK_OPCUA_PASSWORD: '' } });
  assert.equal(none.code, 1, none.stderr);
});

test('security: a new server is refused with the documented message, then trusted', async () => {
  const first = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32', '--security', 'sign', '--pki', pki]);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /BadCertificateUntrusted/);
  const m = first.stderr.match(/is not trusted: to trust it, move '([^']+)' to '([^']+\/trusted\/)'/);
  assert.ok(m, first.stderr);
  assert.ok(fs.existsSync(m[1]), `${m[1]} exists`);
  assert.equal(path.dirname(m[1]), path.join(pki, 'rejected'));
  assert.ok(fs.existsSync(path.join(pki, 'own', 'cert.der')), 'our certificate was made');
  fs.renameSync(m[1], path.join(m[2], path.basename(m[1])));

  for (const security of ['sign', 'signandencrypt']) {
    const r = await opcua(['read', trusting.url, 'ns=1;s=Scalar.UInt32', 'ns=1;s=Scalar.String', '--json',
      '--security', security, '--pki', pki, '-v']);
    ok(r, `read with --security ${security}`);
    const got = readJson(r);
    const k = got.get('ns=1;s=Scalar.UInt32').value;
    assert.equal(got.get('ns=1;s=Scalar.String').value, `Value ${k}`);
    assert.match(r.stderr, new RegExp(`Basic256Sha256 / ${security === 'sign' ? 'Sign' : 'SignAndEncrypt'},`));
  }
  const user = await opcua(['read', trusting.url, 'ns=1;s=Large.DoubleArray', '--json', '--security', 'signandencrypt',
    '--pki', pki, '--user', 'operator', '--password-stdin'], { input: 'secret1\n' });
  ok(user, 'large read, SignAndEncrypt, user name');
  assert.equal(JSON.parse(user.stdout).value.length, 200000);
});

test('security: a server that does not trust our certificate gives a clear error', async () => {
  // We trust it (its certificate in our trust list, PEM) but it does not trust us.
  const ourPki = path.join(tmp, 'airlock-pki-strict');
  fs.mkdirSync(path.join(ourPki, 'trusted'), { recursive: true });
  fs.copyFileSync(strict.certificate(), path.join(ourPki, 'trusted', 'strict-server.pem'));
  for (const security of ['sign', 'signandencrypt']) {
    const r = await opcua(['read', strict.url, 'ns=1;s=Scalar.UInt32', '--security', security, '--pki', ourPki]);
    assert.equal(r.code, 1, `exit ${r.code} ${r.signal}: ${r.stderr}`);
    assert.equal(r.signal, null);
    assert.match(r.stderr, /OpenSecureChannel: the server refused the secure channel: BadSecurityChecksFailed \(0x80130000\)/);
    assert.match(r.stderr, new RegExp(`make the server trust ${ourPki.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/own/cert\\.der \\(thumbprint [0-9A-F]{40}\\)`));
  }
  assert.ok(strict.alive(), 'the strict server still runs');
  // None still works there.
  ok(await opcua(['read', strict.url, 'ns=1;s=Scalar.UInt32']), 'None on the strict server');
});

test('subscribe: data changes in order; the security token is renewed', async () => {
  const r = await opcua(['subscribe', trusting.url, 'ns=1;s=Scalar.UInt32', 'ns=1;s=Scalar.String',
    '--interval-ms', '100', '--count', '20', '--json']);
  ok(r, 'subscribe');
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 20, r.stdout);
  const ks = lines.filter((o) => o.node === 'ns=1;s=Scalar.UInt32').map((o) => o.value);
  assert.ok(ks.length >= 5, r.stdout);
  for (let i = 1; i < ks.length; i++) assert.ok(ks[i] > ks[i - 1], `not increasing: ${ks}`);
  for (const o of lines.filter((x) => x.node === 'ns=1;s=Scalar.String')) assert.match(o.value, /^Value \d+$/);

  // Token lifetime 4 s: renewed at 3 s and 6 s while values keep coming.
  const t = await opcua(['subscribe', trusting.url, 'ns=1;s=Scalar.UInt32', '--interval-ms', '100',
    '--duration-ms', '7000', '--channel-lifetime-ms', '4000', '--security', 'signandencrypt', '--pki', pki, '-v']);
  ok(t, 'subscribe with token renewal');
  const m = t.stderr.match(/\((\d+) token renewals\)/);
  assert.ok(m && Number(m[1]) >= 1, t.stderr);
  const changes = Number(t.stderr.match(/(\d+) data changes/)[1]);
  assert.ok(changes >= 30, t.stderr);
  assert.ok(trusting.alive(), 'the server still runs');
});

test('usage errors and unreachable servers', async () => {
  for (const args of [[], ['read'], ['read', trusting.url], ['frob', trusting.url], ['read', 'http://x', 'i=85'],
    ['browse', trusting.url, '--depth', '99'], ['read', trusting.url, 'i=85', '--security', 'sometimes']]) {
    const r = await opcua(args);
    assert.equal(r.code, 2, `airlock opcua ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  }
  const help = await opcua(['--help']);
  ok(help, '--help');
  assert.match(help.stdout, /airlock opcua endpoints URL/);
  const port = await freePort();
  const r = await opcua(['read', `opc.tcp://127.0.0.1:${port}/none`, 'i=85', '--timeout-ms', '2000']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /connect: cannot connect to 127\.0\.0\.1 port \d+: Connection refused/);
});

// A TCP server that is no proper OPC UA server: mode says how it answers
// the client's Hello.
async function fakeServer(mode) {
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
  const msg = (type, body) => Buffer.concat([Buffer.from(type), u32(8 + body.length), body]);
  const uaString = (s) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
  const ack = msg('ACKF', Buffer.concat([u32(0), u32(65535), u32(65535), u32(0), u32(0)]));
  const srv = net.createServer((sock) => {
    sock.on('error', () => {});
    let seen = 0;
    sock.on('data', () => {
      seen++;
      if (mode === 'err') sock.end(msg('ERRF', Buffer.concat([u32(0x80830000), uaString('no such endpoint')])));
      else if (mode === 'garbage') sock.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      else if (mode === 'close') sock.destroy();
      else if (mode === 'huge' && seen === 1) sock.write(ack);
      else if (mode === 'huge') sock.write(Buffer.concat([Buffer.from('OPNF'), u32(0x7fffffff), u32(1)]));
      // 'silent': nothing
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `opc.tcp://127.0.0.1:${srv.address().port}/fake`, close: () => srv.close() };
}

test('a server answering with ERR, garbage, silence or oversized chunks: clear errors', async () => {
  const cases = [
    ['err', /Hello: the server closed the connection: server sent ERR BadTcpEndpointUrlInvalid \(0x80830000\): no such endpoint/],
    ['garbage', /Hello: .*BadTcpMessageTypeInvalid|Hello: .*message type/],
    ['close', /Hello: the server closed the connection \[BadConnectionClosed\]/],
    ['silent', /Hello: no Acknowledge from the server within 1000 ms/],
    ['huge', /OpenSecureChannel: .*(too large|larger).*\[?BadTcpMessageTooLarge/],
  ];
  for (const [mode, re] of cases) {
    const fake = await fakeServer(mode);
    try {
      for (const cmd of [['read', fake.url, 'i=85'], ['endpoints', fake.url]]) {
        const r = await opcua([...cmd, '--timeout-ms', '1000']);
        assert.equal(r.code, 1, `${mode}: exit ${r.code} ${r.signal}\n${r.stderr}`);
        assert.match(r.stderr, re, `${mode}`);
      }
    } finally {
      fake.close();
    }
  }
});
