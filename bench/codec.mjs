// Codec benchmark: encode, decode and the encode+decode round trip of one typical message, for
// Quark (the built dist/esm) and for rhea's codec, in the same process and the same run.
//
// The message: a properties section with message-id, to, subject, correlation-id and content-type;
// five application properties of mixed types (string, int, long, boolean, double); a 100-byte
// string body in an amqp-value section. Both libraries are given the same AMQP types, so both do
// the same work: rhea is handed rhea-typed int and long values where its defaults would pick
// other types (it sends a positive JS number as a uint, a large one as a ulong).
//
// Before timing, each output is checked once: each library's bytes must decode, with Quark and with
// rhea, to the expected values and AMQP types, so the numbers never compare different work.
//
// Usage: node bench/codec.mjs [--quick] [--json]   (npm run bench builds first and runs every bench)
import { createRequire } from 'node:module';
import * as quark from '../dist/esm/index.js';

const require = createRequire(import.meta.url);
const rhea = require('rhea');
const rheaMessage = rhea.message;
const rheaTypes = rhea.types;

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick') || process.env.BENCH_QUICK === '1';
const WARMUP_MS = QUICK ? 200 : 1000;
const ROUNDS = QUICK ? 3 : 9;
const ROUND_MS = QUICK ? 150 : 400;
const TARGET_ROUND_TRIP_RATIO = 4;

// ---- The message ----

const BODY = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. '.padEnd(
  100,
  '0123456789',
);
if (Buffer.byteLength(BODY, 'utf8') !== 100) throw new Error('the body must be 100 bytes');

const EXPECTED = {
  messageId: 'order-4f7c2a9e-0001',
  to: '/queue/orders',
  subject: 'order.created',
  correlationId: 'req-8d3b61c5-0042',
  contentType: 'text/plain',
  region: 'eu-west-1', // string
  quantity: 42, // int
  sequence: 1234567890123n, // long
  priority: true, // boolean
  price: 19.99, // double
  body: BODY,
};

/** Quark: plain values carry their AMQP type (a bigint is a long, 19.99 a double, 42 an int). */
const quarkMsg = {
  messageId: EXPECTED.messageId,
  to: EXPECTED.to,
  subject: EXPECTED.subject,
  correlationId: EXPECTED.correlationId,
  contentType: EXPECTED.contentType,
  applicationProperties: {
    region: EXPECTED.region,
    quantity: EXPECTED.quantity,
    sequence: EXPECTED.sequence,
    priority: EXPECTED.priority,
    price: EXPECTED.price,
  },
  body: EXPECTED.body,
};

/** rhea: the same information and AMQP types (its defaults would send 42 as uint, the long as ulong). */
const rheaMsg = {
  message_id: EXPECTED.messageId,
  to: EXPECTED.to,
  subject: EXPECTED.subject,
  correlation_id: EXPECTED.correlationId,
  content_type: EXPECTED.contentType, // a symbol field: rhea wraps it as a symbol
  application_properties: {
    region: EXPECTED.region,
    quantity: rheaTypes.wrap_int(EXPECTED.quantity),
    sequence: rheaTypes.wrap_long(Number(EXPECTED.sequence)),
    priority: EXPECTED.priority,
    price: EXPECTED.price, // a non-integer number: rhea sends a double
  },
  body: EXPECTED.body,
};

const quarkEncode = () => quark.encodeMessage(quarkMsg);
const rheaEncode = () => rheaMessage.encode(rheaMsg);
const quarkBytes = quarkEncode();
const rheaBytes = rheaEncode();
const EXACT = { values: 'exact' };
const quarkDecode = () => quark.decodeMessage(quarkBytes, EXACT);
/** The default (native values: numbers, plain objects), which is what rhea gives too. */
const quarkDecodeNative = () => quark.decodeMessage(quarkBytes);
const rheaDecode = () => rheaMessage.decode(rheaBytes);
const quarkRoundTrip = () => quark.decodeMessage(quark.encodeMessage(quarkMsg), EXACT);
const rheaRoundTrip = () => rheaMessage.decode(rheaMessage.encode(rheaMsg));

// ---- Checks: same information, same AMQP types, on every path ----

function fail(what, detail) {
  throw new Error(`benchmark check failed: ${what}: ${detail}`);
}

function expectEqual(what, actual, expected) {
  if (actual !== expected)
    fail(what, `expected ${String(expected)} (${typeof expected}), got ${String(actual)} (${typeof actual})`);
}

/** A Quark-decoded message must hold exactly the values and types sent. */
function checkQuarkDecoded(label, m) {
  for (const f of ['messageId', 'to', 'subject', 'correlationId', 'contentType'])
    expectEqual(`${label} ${f}`, m[f], EXPECTED[f]);
  const ap = m.applicationProperties ?? fail(label, 'no application properties');
  expectEqual(`${label} region`, ap.region, EXPECTED.region);
  expectEqual(`${label} quantity (int)`, ap.quantity, EXPECTED.quantity);
  expectEqual(`${label} sequence (long)`, ap.sequence, EXPECTED.sequence);
  expectEqual(`${label} priority (boolean)`, ap.priority, EXPECTED.priority);
  if (!(ap.price instanceof quark.Typed) || ap.price.type !== 'double')
    fail(`${label} price`, 'not decoded as a double');
  expectEqual(`${label} price (double)`, ap.price.value, EXPECTED.price);
  expectEqual(`${label} application property count`, Object.keys(ap).length, 5);
  expectEqual(`${label} body`, m.body, EXPECTED.body);
  expectEqual(`${label} bodyType`, m.bodyType, 'value');
}

/** With native values (the default) the numbers are plain numbers, as rhea gives them. */
function checkNativeDecoded(label, m) {
  const ap = m.applicationProperties ?? fail(label, 'no application properties');
  expectEqual(`${label} quantity`, ap.quantity, EXPECTED.quantity);
  expectEqual(`${label} sequence`, ap.sequence, Number(EXPECTED.sequence));
  expectEqual(`${label} price`, ap.price, EXPECTED.price);
  expectEqual(`${label} body`, m.body, EXPECTED.body);
}

/** A rhea-decoded message must hold the same values (rhea decodes every number to a JS number). */
function checkRheaDecoded(label, m) {
  expectEqual(`${label} message_id`, m.message_id, EXPECTED.messageId);
  expectEqual(`${label} to`, m.to, EXPECTED.to);
  expectEqual(`${label} subject`, m.subject, EXPECTED.subject);
  expectEqual(`${label} correlation_id`, m.correlation_id, EXPECTED.correlationId);
  expectEqual(`${label} content_type`, m.content_type, EXPECTED.contentType);
  const ap = m.application_properties ?? fail(label, 'no application properties');
  expectEqual(`${label} region`, ap.region, EXPECTED.region);
  expectEqual(`${label} quantity`, ap.quantity, EXPECTED.quantity);
  expectEqual(`${label} sequence`, ap.sequence, Number(EXPECTED.sequence));
  expectEqual(`${label} priority`, ap.priority, EXPECTED.priority);
  expectEqual(`${label} price`, ap.price, EXPECTED.price);
  expectEqual(`${label} application property count`, Object.keys(ap).length, 5);
  expectEqual(`${label} body`, m.body, EXPECTED.body);
}

/** The AMQP type of each application property as written on the wire, read with Quark's exact decoder. */
function appPropertyTypes(bytes) {
  const ap = quark.decodeMessage(bytes, EXACT).applicationProperties;
  return Object.fromEntries(Object.entries(ap).map(([k, v]) => [k, quark.typeOf(v)]));
}

function checkAll() {
  checkQuarkDecoded('Quark decoding Quark bytes', quarkDecode());
  checkQuarkDecoded('Quark round trip', quarkRoundTrip());
  checkRheaDecoded('rhea decoding rhea bytes', rheaDecode());
  checkRheaDecoded('rhea round trip', rheaRoundTrip());
  // Cross-decoding proves both encoders wrote the same information.
  checkQuarkDecoded('Quark decoding rhea bytes', quark.decodeMessage(rheaBytes, EXACT));
  checkNativeDecoded('Quark decoding Quark bytes (native)', quarkDecodeNative());
  checkNativeDecoded('Quark decoding rhea bytes (native)', quark.decodeMessage(rheaBytes));
  checkRheaDecoded('rhea decoding Quark bytes', rheaMessage.decode(Buffer.from(quarkBytes)));
  const want = { region: 'string', quantity: 'int', sequence: 'long', priority: 'boolean', price: 'double' };
  for (const [name, bytes] of [
    ['Quark', quarkBytes],
    ['rhea', rheaBytes],
  ]) {
    const got = appPropertyTypes(bytes);
    for (const [k, t] of Object.entries(want)) expectEqual(`${name} bytes: AMQP type of ${k}`, got[k], t);
  }
}

// ---- Timing ----

let sink = 0;
/** Keeps results observable so the work cannot be optimised away. */
function consume(v) {
  sink = (sink + (v.length ?? (v.body === undefined ? 0 : 1))) | 0;
}

/** Runs `fn` in batches for about `ms` milliseconds; returns operations per second. */
function timeFor(fn, ms) {
  const budget = BigInt(Math.round(ms * 1e6));
  let batch = 64;
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < batch; i++) consume(fn());
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
    if (elapsed < budget / 20n) batch *= 2;
  }
  return ops / (Number(elapsed) / 1e9);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

const cases = [
  { op: 'encode', quark: quarkEncode, rhea: rheaEncode },
  { op: 'decode (exact)', quark: quarkDecode, rhea: rheaDecode },
  { op: 'decode (native)', quark: quarkDecodeNative, rhea: rheaDecode },
  { op: 'round trip', quark: quarkRoundTrip, rhea: rheaRoundTrip },
];

function run() {
  checkAll();
  // Warm-up: every function, so the JIT has seen all of them before any timing.
  for (const c of cases) {
    timeFor(c.quark, WARMUP_MS / 2 / cases.length);
    timeFor(c.rhea, WARMUP_MS / 2 / cases.length);
  }
  const samples = cases.map(() => ({ quark: [], rhea: [], ratio: [] }));
  // Each round times Quark and rhea back to back (alternating which goes first), so a change in
  // machine load hits both alike; the ratio reported is the median of the per-round ratios.
  for (let round = 0; round < ROUNDS; round++) {
    cases.forEach((c, i) => {
      const order = round % 2 === 0 ? ['quark', 'rhea'] : ['rhea', 'quark'];
      const got = {};
      for (const impl of order) got[impl] = timeFor(c[impl], ROUND_MS);
      samples[i].quark.push(got.quark);
      samples[i].rhea.push(got.rhea);
      samples[i].ratio.push(got.quark / got.rhea);
    });
  }
  // The work is checked once more after timing (a shared writer must not have been corrupted).
  checkAll();
  const spread = (xs) => (Math.max(...xs) - Math.min(...xs)) / median(xs);
  return cases.map((c, i) => ({
    op: c.op,
    quark: median(samples[i].quark),
    rhea: median(samples[i].rhea),
    ratio: median(samples[i].ratio),
    ratioMin: Math.min(...samples[i].ratio),
    ratioMax: Math.max(...samples[i].ratio),
    quarkSpread: spread(samples[i].quark),
    rheaSpread: spread(samples[i].rhea),
  }));
}

// ---- Report ----

const fmtOps = (n) => Math.round(n).toLocaleString('en-US');
const fmtPct = (x) => `±${Math.round((x * 100) / 2)}%`;

function printTable(results) {
  const rows = [['operation', 'Quark ops/s', 'rhea ops/s', 'Quark/rhea', 'range over rounds', 'target']];
  for (const r of results) {
    const target =
      r.op === 'round trip'
        ? `>= ${TARGET_ROUND_TRIP_RATIO}x ${r.ratio >= TARGET_ROUND_TRIP_RATIO ? 'met' : 'NOT MET'}`
        : '';
    rows.push([
      r.op,
      `${fmtOps(r.quark)} ${fmtPct(r.quarkSpread)}`,
      `${fmtOps(r.rhea)} ${fmtPct(r.rheaSpread)}`,
      `${r.ratio.toFixed(2)}x`,
      `${r.ratioMin.toFixed(2)}x - ${r.ratioMax.toFixed(2)}x`,
      target,
    ]);
  }
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  const line = (row) =>
    '| ' +
    row
      .map((cell, col) => (col === 0 || col === 5 ? cell.padEnd(widths[col]) : cell.padStart(widths[col])))
      .join(' | ') +
    ' |';
  console.log(line(rows[0]));
  console.log(
    '|' +
      widths.map((w, col) => (col === 0 || col === 5 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') +
      '|',
  );
  for (const row of rows.slice(1)) console.log(line(row));
}

const results = run();
if (args.has('--json')) {
  console.log(JSON.stringify({ quarkBytes: quarkBytes.length, rheaBytes: rheaBytes.length, results }));
} else {
  console.log('Codec: one typical message (5 properties, 5 mixed application properties, 100-byte string body)');
  console.log(
    `  ${process.version}, rhea ${require('rhea/package.json').version}; ${ROUNDS} rounds of ${ROUND_MS} ms per cell after ${WARMUP_MS} ms warm-up; ` +
      'median ops/s (± half the range over rounds); Quark/rhea is the median of per-round ratios',
  );
  console.log(
    `  encoded size: Quark ${quarkBytes.length} bytes, rhea ${rheaBytes.length} bytes (rhea always uses 32-bit lists and maps)`,
  );
  console.log("  checked: each library decodes its own and the other's bytes to the same values and AMQP types");
  console.log('');
  printTable(results);
}
if (sink === 0.5) console.log(''); // never true; keeps `sink` live
