// An OPC UA server for airlock's OPC UA tests and benchmark: node-opcua (an
// implementation we did not write) serving a namespace whose values are a
// pure function of a tick counter k, so a test can predict every value.
//
// Usage: node opcua_server.mjs --port P [--host 127.0.0.1] [--pki DIR]
//          [--rate-ms 100] [--bulk N] [--large-size 200000]
//          [--trust-all-clients] [--no-anonymous]
//
// Prints exactly one line on stdout, `ready opc.tcp://HOST:P/airlock`, once
// it listens (everything node-opcua logs goes to stderr), and stops cleanly on
// SIGTERM or SIGINT. The address space, the value formulas and the PKI layout
// are documented in README.md beside this file; keep both in step.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// node-opcua writes warnings with console.log: keep stdout for the ready line.
console.log = console.error;
console.info = console.error;

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = process.env.AIRLOCK_SRC || path.resolve(here, '..', '..', '..');

// A module from NODE_PATH or the repository's node_modules.
function load(name) {
  try {
    return require(name);
  } catch {
    return require(path.join(repo, 'node_modules', name));
  }
}

const { OPCUAServer } = load('node-opcua-server');
const { OPCUACertificateManager } = load('node-opcua-certificate-manager');
const { MessageSecurityMode, SecurityPolicy } = load('node-opcua-secure-channel');
const { DataType, Variant, VariantArrayType } = load('node-opcua-variant');
const { StatusCodes } = load('node-opcua-status-code');
const { coerceNodeId } = load('node-opcua-nodeid');
const { standardUnits } = load('node-opcua-data-access');
const { nodesets } = load('node-opcua-nodesets');

const NAMESPACE_URI = 'urn:airlock:test:opcua-peer';
const RESOURCE_PATH = '/airlock';
const USER = 'operator';
const PASSWORD = 'secret1';
const EPOCH_MS = Date.UTC(2024, 0, 1); // DateTime values count seconds from here
const GUID_NODE = '7D3B5F6E-1A2B-4C3D-8E9F-0123456789AB';
const OPAQUE_NODE = 'AQIDBA=='; // the 4 bytes 01 02 03 04
const UNICODE_NODE = 'IdKinds.Größe °C';
const BULK_GROUP = 100; // Bulk variables per folder

function usage(message) {
  process.stderr.write(
    `opcua_server: ${message}\n` +
      'usage: node opcua_server.mjs --port P [--host H] [--pki DIR] [--rate-ms MS]\n' +
      '         [--bulk N] [--large-size N] [--trust-all-clients] [--no-anonymous]\n',
  );
  process.exit(2);
}

function parseOptions() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        pki: { type: 'string' },
        'rate-ms': { type: 'string', default: '100' },
        bulk: { type: 'string', default: '0' },
        'large-size': { type: 'string', default: '200000' },
        'trust-all-clients': { type: 'boolean', default: false },
        'no-anonymous': { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (err) {
    usage(err.message);
  }
  const v = parsed.values;
  const int = (name, min, max) => {
    const n = Number(v[name]);
    if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be an integer in ${min}..${max}`);
    return n;
  };
  if (v.port === undefined) usage('--port is required');
  return {
    port: int('port', 1, 65535),
    host: v.host,
    pki: path.resolve(v.pki || path.join(os.tmpdir(), 'airlock-opcua-peer-pki')),
    rateMs: int('rate-ms', 1, 3600000),
    bulk: int('bulk', 0, 1000000),
    largeSize: int('large-size', 1, 10000000),
    trustAllClients: v['trust-all-clients'],
    allowAnonymous: !v['no-anonymous'],
  };
}

// ---- values as functions of the tick k ------------------------------------

const hex = (n, width) => n.toString(16).toUpperCase().padStart(width, '0');

// Int64/UInt64 as node-opcua wants them: [high 32 bits, low 32 bits] of the
// 64-bit two's complement pattern.
function int64Pair(big) {
  const bits = BigInt.asUintN(64, big);
  return [Number(bits >> 32n), Number(bits & 0xffffffffn)];
}

// One entry per built-in type: scalar(k) is Scalar.<Type>; Array.<Type> is
// [scalar(k), scalar(k+1), scalar(k+2), ...extras].
const TYPES = [
  { name: 'Boolean', scalar: (k) => k % 2 === 1, extras: [] },
  { name: 'SByte', scalar: (k) => (k % 256) - 128, extras: [-128, 127] },
  { name: 'Byte', scalar: (k) => k % 256, extras: [0, 255] },
  { name: 'Int16', scalar: (k) => (k % 65536) - 32768, extras: [-32768, 32767] },
  { name: 'UInt16', scalar: (k) => k % 65536, extras: [0, 65535] },
  { name: 'Int32', scalar: (k) => k - 2147483648, extras: [-2147483648, 2147483647] },
  { name: 'UInt32', scalar: (k) => k, extras: [0, 4294967295] },
  {
    name: 'Int64',
    scalar: (k) => int64Pair(BigInt(k) - 2n ** 63n),
    extras: [int64Pair(-(2n ** 63n)), int64Pair(2n ** 63n - 1n)],
  },
  {
    name: 'UInt64',
    scalar: (k) => int64Pair(2n ** 64n - 1n - BigInt(k)),
    extras: [int64Pair(0n), int64Pair(2n ** 64n - 1n)],
  },
  { name: 'Float', scalar: (k) => k * 0.5, extras: [-1.5, 3.4028234663852886e38] },
  { name: 'Double', scalar: (k) => k * 0.25, extras: [-1.5, 1.7976931348623157e308] },
  { name: 'String', scalar: (k) => `Value ${k}`, extras: ['', 'Grüße ✓'] },
  { name: 'DateTime', scalar: (k) => new Date(EPOCH_MS + k * 1000), extras: [] },
  { name: 'Guid', scalar: (k) => `${hex(k >>> 0, 8)}-1234-5678-9ABC-DEF012345678`, extras: [] },
  {
    name: 'ByteString',
    scalar: (k) => Buffer.from([(k >>> 24) & 255, (k >>> 16) & 255, (k >>> 8) & 255, k & 255]),
    extras: [Buffer.alloc(0)],
  },
  { name: 'LocalizedText', scalar: (k) => ({ locale: 'en', text: `Text ${k}` }), extras: [] },
  { name: 'QualifiedName', scalar: (k) => ({ namespaceIndex: 1, name: `Name${k}` }), extras: [] },
  {
    name: 'NodeId',
    scalar: (k) => coerceNodeId(`ns=1;i=${k}`),
    extras: ['i=85', 'ns=1;i=1000000', 'ns=1;s=Plant', `ns=1;g=${GUID_NODE}`, `ns=1;b=${OPAQUE_NODE}`].map(
      (id) => coerceNodeId(id),
    ),
  },
  {
    name: 'StatusCode',
    scalar: (k) => [StatusCodes.Good, StatusCodes.UncertainLastUsableValue, StatusCodes.BadOutOfRange][k % 3],
    extras: [],
  },
];

const scalarVariant = (type, k) =>
  new Variant({ dataType: DataType[type.name], arrayType: VariantArrayType.Scalar, value: type.scalar(k) });

function arrayVariant(type, k) {
  const value = [type.scalar(k), type.scalar(k + 1), type.scalar(k + 2), ...type.extras];
  return new Variant({ dataType: DataType[type.name], arrayType: VariantArrayType.Array, value });
}

// AnalogItemType variables: value(k), unit, EURange.
const ANALOG = [
  {
    name: 'Temperature', dataType: 'Double', unit: standardUnits.degree_celsius,
    range: { low: -50, high: 150 }, value: (k) => 20 + (k % 100) * 0.5,
  },
  {
    name: 'Pressure', dataType: 'Double', unit: standardUnits.bar,
    range: { low: 0, high: 16 }, value: (k) => 1 + (k % 64) * 0.125,
  },
  {
    name: 'Speed', dataType: 'Float', unit: standardUnits.revolutions_per_minute,
    range: { low: 0, high: 3000 }, value: (k) => 1500 + (k % 100),
  },
];

// ---- address space ---------------------------------------------------------

const READ = 'CurrentRead';
const READ_WRITE = 'CurrentRead | CurrentWrite';

function buildAddressSpace(server, opts, state) {
  const addressSpace = server.engine.addressSpace;
  const ns = addressSpace.getOwnNamespace();
  const objects = addressSpace.rootFolder.objects;
  const updaters = []; // (k) => void, called on every tick
  const folder = (parent, nodeId, browseName) =>
    ns.addFolder(parent, { nodeId: `ns=${ns.index};s=${nodeId}`, browseName });
  const variable = (parent, o) =>
    ns.addVariable({
      organizedBy: parent,
      accessLevel: READ,
      userAccessLevel: READ,
      minimumSamplingInterval: 0,
      ...o,
      nodeId: o.nodeId.startsWith('ns=') ? o.nodeId : `ns=${ns.index};${o.nodeId}`,
    });
  // A variable whose value is set on every tick from variantOf(k): exception based.
  const ticking = (parent, o, variantOf) => {
    const v = variable(parent, { ...o, value: variantOf(state.k) });
    updaters.push((k) => v.setValueFromSource(variantOf(k), StatusCodes.Good));
    return v;
  };

  // Numeric ids first, before node-opcua picks numeric ids of its own.
  const plant = folder(objects, 'Plant', 'Plant');
  const area1 = folder(plant, 'Plant.Area1', 'Area1');
  const line1 = folder(area1, 'Plant.Area1.Line1', 'Line1');
  const idKinds = folder(line1, 'Plant.Area1.Line1.IdKinds', 'IdKinds');
  const counter = (k) => new Variant({ dataType: DataType.UInt32, value: k });
  const idVar = (nodeId, browseName) =>
    ticking(idKinds, { nodeId, browseName, dataType: 'UInt32' }, counter);
  idVar('i=42', 'NumericId');
  idVar('i=1000000', 'NumericLargeId');
  idVar('s=IdKinds.String', 'StringId');
  idVar(`g=${GUID_NODE}`, 'GuidId');
  idVar(`b=${OPAQUE_NODE}`, 'OpaqueId');
  idVar(`s=${UNICODE_NODE}`, 'UnicodeStringId');

  const scalars = folder(line1, 'Plant.Area1.Line1.Scalars', 'Scalars');
  const arrays = folder(line1, 'Plant.Area1.Line1.Arrays', 'Arrays');
  for (const type of TYPES) {
    ticking(scalars, { nodeId: `s=Scalar.${type.name}`, browseName: type.name, dataType: type.name },
      (k) => scalarVariant(type, k));
    const length = 3 + type.extras.length;
    ticking(arrays, {
      nodeId: `s=Array.${type.name}`, browseName: type.name, dataType: type.name,
      valueRank: 1, arrayDimensions: [length],
    }, (k) => arrayVariant(type, k));
  }

  const analog = folder(line1, 'Plant.Area1.Line1.Analog', 'Analog');
  for (const a of ANALOG) {
    const variantOf = (k) => new Variant({ dataType: DataType[a.dataType], value: a.value(k) });
    const item = ns.addAnalogDataItem({
      organizedBy: analog,
      nodeId: `ns=${ns.index};s=Analog.${a.name}`,
      browseName: a.name,
      dataType: a.dataType,
      engineeringUnitsRange: a.range,
      engineeringUnits: a.unit,
      minimumSamplingInterval: 0,
      value: variantOf(state.k),
    });
    updaters.push((k) => item.setValueFromSource(variantOf(k), StatusCodes.Good));
  }

  const writable = folder(line1, 'Plant.Area1.Line1.Writable', 'Writable');
  // Every change of a writable variable is logged on stderr as
  // `written <NodeId> <DataType> <value>`, so a test can see what a client wrote.
  const writableVar = (nodeId, browseName, dataType, value) => {
    const v = variable(writable, {
      nodeId, browseName, dataType, accessLevel: READ_WRITE, userAccessLevel: READ_WRITE,
      value: new Variant({ dataType: DataType[dataType], value }),
    });
    v.on('value_changed', (dv) => {
      const x = dv.value;
      process.stderr.write(`written ns=${ns.index};${nodeId} ${DataType[x.dataType]} ${x.value}\n`);
    });
    return v;
  };
  writableVar('s=Writable.Double', 'Setpoint', 'Double', 1.5);
  writableVar('s=Writable.Int32', 'Mode', 'Int32', 42);

  // Read on demand (a getter): Large.DoubleArray[j] = k + j.
  const large = folder(line1, 'Plant.Area1.Line1.Large', 'Large');
  variable(large, {
    nodeId: 's=Large.DoubleArray', browseName: 'DoubleArray', dataType: 'Double',
    valueRank: 1, arrayDimensions: [opts.largeSize], minimumSamplingInterval: opts.rateMs,
    value: {
      get: () => {
        const a = new Float64Array(opts.largeSize);
        for (let j = 0; j < a.length; j++) a[j] = state.k + j;
        return new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: a });
      },
    },
  });

  const line2 = folder(area1, 'Plant.Area1.Line2', 'Line2');
  ticking(line2, { nodeId: 's=Line2.Counter', browseName: 'Counter', dataType: 'UInt32' }, counter);
  folder(plant, 'Plant.Area2', 'Area2'); // empty, for browse tests

  // Bulk.<i> = i * 1000 + k. Reads and sampled monitored items call the getter;
  // a tick only touches the variables an exception-based monitored item
  // (samplingInterval 0) listens to, so 10,000 unwatched variables cost nothing.
  // Groups of BULK_GROUP per folder: node-opcua's cost of adding a child grows
  // with the number of siblings (10,000 in one folder took over a minute).
  if (opts.bulk > 0) {
    const bulk = folder(objects, 'Bulk', 'Bulk');
    const bulkVars = [];
    let group = null;
    for (let i = 0; i < opts.bulk; i++) {
      if (i % BULK_GROUP === 0) {
        const g = i / BULK_GROUP;
        group = folder(bulk, `Bulk.Group${g}`, `Group${g}`);
      }
      const valueOf = () => new Variant({ dataType: DataType.Double, value: i * 1000 + state.k });
      const v = variable(group, {
        nodeId: `s=Bulk.${i}`, browseName: `Bulk${i}`, dataType: 'Double', value: valueOf(),
      });
      // Bound after creation: addVariable warns about a getter with MinimumSamplingInterval 0.
      v.bindVariable({ get: valueOf }, true);
      bulkVars.push(v);
    }
    updaters.push(() => {
      for (const v of bulkVars) {
        if (v.listenerCount('value_changed') > 0) v.emit('value_changed', v.readValue());
      }
    });
  }
  return updaters;
}

// ---- server ----------------------------------------------------------------

// Set once the server is built, for the signal handlers.
let server = null;
let timer = null;
let stopping = false;

async function stop(signal) {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  process.stderr.write(`opcua_server: ${signal}, shutting down\n`);
  setTimeout(() => process.exit(0), 5000).unref(); // a shutdown that hangs
  try {
    if (server) await server.shutdown(0);
  } finally {
    process.exit(0);
  }
}

async function main() {
  const opts = parseOptions();
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  fs.mkdirSync(opts.pki, { recursive: true });
  const serverCertificateManager = new OPCUACertificateManager({
    rootFolder: opts.pki,
    automaticallyAcceptUnknownCertificate: opts.trustAllClients,
  });
  // Our own certificate on first run, valid for the names a client on this
  // machine may use (node-opcua's default has neither localhost nor an IP).
  await serverCertificateManager.initialize();
  const certificateFile = path.join(opts.pki, 'own', 'certs', 'certificate.pem');
  if (!fs.existsSync(certificateFile)) {
    const ips = ['127.0.0.1'];
    if (/^[0-9.]+$/.test(opts.host) && !ips.includes(opts.host)) ips.push(opts.host);
    await serverCertificateManager.createSelfSignedCertificate({
      applicationUri: NAMESPACE_URI,
      dns: [...new Set(['localhost', os.hostname()])],
      ip: ips,
      subject: '/CN=airlock test OPC UA peer/O=airlock tests',
      outputFile: certificateFile,
      startDate: new Date(Date.now() - 24 * 3600 * 1000),
      validity: 3650,
    });
  }
  // User certificates are checked against DIR/user; keep node-opcua's user PKI out of $HOME.
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: path.join(opts.pki, 'user'),
    automaticallyAcceptUnknownCertificate: false,
  });
  server = new OPCUAServer({
    port: opts.port,
    host: opts.host,
    hostname: opts.host,
    resourcePath: RESOURCE_PATH,
    nodeset_filename: [nodesets.standard],
    serverCertificateManager,
    certificateFile,
    userCertificateManager,
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: opts.allowAnonymous,
    userManager: { isValidUser: (user, password) => user === USER && password === PASSWORD },
    disableDiscovery: true,
    serverInfo: {
      applicationUri: NAMESPACE_URI,
      productUri: NAMESPACE_URI,
      applicationName: { text: 'airlock test OPC UA peer', locale: 'en' },
    },
    buildInfo: { productName: 'airlock-opcua-peer', manufacturerName: 'airlock tests' },
  });
  await server.initialize();

  const state = { k: 0 };
  const ns = server.engine.addressSpace.getOwnNamespace();
  if (ns.index !== 1 || ns.namespaceUri !== NAMESPACE_URI) {
    throw new Error(`own namespace is ${ns.index} ${ns.namespaceUri}, expected 1 ${NAMESPACE_URI}`);
  }
  const updaters = buildAddressSpace(server, opts, state);
  timer = setInterval(() => {
    state.k += 1;
    for (const update of updaters) update(state.k);
  }, opts.rateMs);

  await server.start();
  process.stdout.write(`ready ${server.getEndpointUrl()}\n`);
}

main().catch((err) => {
  process.stderr.write(`opcua_server: ${err.stack || err}\n`);
  process.exit(1);
});
