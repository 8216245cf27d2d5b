/**
 * The decoders face bytes from the network: whatever arrives, they must either decode it or throw
 * a DecodeError, never another error, never hang, never allocate out of proportion to the input.
 *
 * Inputs come from a seeded generator: a failure prints its seed and input, and
 * `QUARK_FUZZ_SEED=<seed> npx vitest run tests/fuzz` replays the same run. Inputs that once found a
 * bug are kept in tests/fuzz/corpus/decoder and replayed by every run.
 */
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { ByteReader, readComposite } from '../../src/codec/decoder.js';
import {
  AMQP_FRAME_TYPE,
  SASL_FRAME_TYPE,
  decodeFrame,
  readFrameHeader,
  writeEmptyFrame,
  writeFrame,
} from '../../src/codec/frames.js';
import { decodeMessage, encodeMessage } from '../../src/codec/message.js';
import { compositeSpecs, type CompositeSpec } from '../../src/codec/spec-tables.js';
import { decodeValue, encodeValue } from '../../src/codec/value-bytes.js';
import { array, described, symbol, ulong, uuid } from '../../src/codec/values.js';
import { DecodeError } from '../../src/errors.js';
import { amqpValue, message } from '../support/amqp-arbitraries.js';
import { amqpDifference } from '../support/amqp-equal.js';
import { corpusOf } from '../support/fuzz-corpus.js';
import { SeededRandom, fuzzSeed } from '../support/seeded-random.js';

const SEED = fuzzSeed(0x5eed_a11c);
const MAX_FRAME = 1 << 20;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const u32 = (n: number): string => n.toString(16).padStart(8, '0');

// ---- Targets: each decodes one input the way the SDK does ----

type Target = (input: Uint8Array) => void;

/** decodeValue; and whatever it accepts must re-encode and decode to the same value (it can be sent on). */
const valueTarget: Target = (input) => {
  let decoded;
  try {
    decoded = decodeValue(input);
  } catch (e) {
    if (e instanceof DecodeError) return;
    throw e;
  }
  const again = decodeValue(encodeValue(decoded));
  const diff = amqpDifference(again, decoded);
  if (diff !== undefined) throw new Error(`decoded value does not survive re-encoding: ${diff}`);
};

const messageTarget: Target = (input) => {
  decodeMessage(input, { values: 'exact' });
};

const frameTarget: Target = (input) => {
  const header = readFrameHeader(input, 0, MAX_FRAME);
  if (header !== undefined) decodeFrame(input, 0, header);
};

const compositeTarget: Target = (input) => {
  readComposite(new ByteReader(input));
};

interface Failure {
  target: string;
  input: string;
  error: string;
}

const failures: Failure[] = [];
let inputs = 0;

function run(name: string, target: Target, input: Uint8Array): void {
  inputs++;
  try {
    target(input);
  } catch (e) {
    if (e instanceof DecodeError) {
      if (!(typeof e.offset === 'number' && e.offset >= 0 && e.offset <= input.length + 8)) {
        failures.push({
          target: name,
          input: hex(input),
          error: `DecodeError with a bad offset ${e.offset}: ${e.message}`,
        });
      } else if (
        e.condition !== 'amqp:decode-error' &&
        e.condition !== 'amqp:invalid-field' &&
        e.condition !== 'amqp:connection:framing-error'
      ) {
        failures.push({ target: name, input: hex(input), error: `DecodeError with condition ${e.condition}` });
      }
      return;
    }
    failures.push({
      target: name,
      input: hex(input),
      error: e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e),
    });
  }
}

function report(): string {
  const first = failures.slice(0, 5).map((f) => `  ${f.target} ${f.input.slice(0, 400)}\n    -> ${f.error}`);
  return `${failures.length} inputs failed (seed ${SEED}; replay with QUARK_FUZZ_SEED=${SEED}):\n${first.join('\n')}`;
}

// ---- Corpus: valid encodings of values, messages and frames ----

const rng = new SeededRandom(SEED);

const handWritten = [
  '40',
  '41',
  '42',
  '56 01',
  '50 ff',
  '60 01 00',
  '43',
  '52 07',
  '70 00 01 00 00',
  '44',
  '53 09',
  '80 00 00 00 00 00 00 01 00',
  '51 80',
  '61 80 00',
  '54 7f',
  '71 00 00 01 00',
  '55 80',
  '81 00 00 00 00 00 00 01 00',
  '72 3f 80 00 00',
  '82 3f f8 00 00 00 00 00 00',
  '74 01 02 03 04',
  '84 01 02 03 04 05 06 07 08',
  '94 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f',
  '73 00 01 f6 00',
  '83 00 00 01 8b cf e5 68 00',
  '98 6b a7 b8 10 9d ad 11 d1 80 b4 00 c0 4f d4 30 c8',
  'a0 03 01 02 03',
  'b0 00 00 00 01 ff',
  'a1 04 f0 9f 98 80',
  'b1 00 00 00 01 61',
  'a3 03 61 62 63',
  'b3 00 00 00 01 61',
  '45',
  'c0 03 02 41 42',
  'd0 00 00 00 06 00 00 00 02 41 42',
  'c1 06 02 a1 01 61 54 01',
  'd1 00 00 00 09 00 00 00 02 a1 01 61 54 01',
  'e0 05 03 54 01 02 03',
  'f0 00 00 00 08 00 00 00 03 54 01 02 03',
  'e0 02 02 43',
  'e0 0a 02 00 53 05 a3 01 78 02 79 7a',
  'e0 14 02 d0 00000006 00000001 5401 00000004 00000000',
  'e0 0f 01 d1 00000009 00000002 a10161 5401',
  '00 53 01 a1 01 61',
  '00 a3 03 66 6f 6f 45',
  '00 54 05 40',
].map(h);

const valueCorpus: Uint8Array[] = [
  ...handWritten,
  ...fc.sample(amqpValue, { seed: SEED, numRuns: 300 }).map((v) => encodeValue(v)),
  encodeValue([
    1,
    'two',
    [symbol('three'), new Map([[ulong(4), described(symbol('x'), array('int', [5, 6]))]])],
    uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
  ]),
];

const messageCorpus: Uint8Array[] = fc.sample(message, { seed: SEED + 1, numRuns: 150 }).map((m) => encodeMessage(m));

function frameBytes(
  type: number,
  channel: number,
  spec: CompositeSpec,
  fields: object,
  payload?: Uint8Array,
): Uint8Array {
  const w = new ByteWriter(64);
  writeFrame(w, type, channel, spec, fields, payload);
  return w.toBuffer();
}

const error = { condition: 'amqp:internal-error', description: 'oops', info: { a: 1 } };
const frameCorpus: Uint8Array[] = [
  frameBytes(AMQP_FRAME_TYPE, 0, compositeSpecs.open, {
    containerId: 'c',
    hostname: 'h',
    maxFrameSize: 65536,
    channelMax: 9,
    idleTimeOut: 1000,
    offeredCapabilities: ['A', 'B'],
    properties: { p: 'v' },
  }),
  frameBytes(AMQP_FRAME_TYPE, 1, compositeSpecs.begin, {
    remoteChannel: 1,
    nextOutgoingId: 0,
    incomingWindow: 2048,
    outgoingWindow: 2048,
    handleMax: 255,
  }),
  frameBytes(AMQP_FRAME_TYPE, 1, compositeSpecs.attach, {
    name: 'link',
    handle: 0,
    role: true,
    sndSettleMode: 2,
    rcvSettleMode: 0,
    source: {
      kind: 'source',
      address: 'q',
      durable: 2,
      expiryPolicy: 'never',
      filter: { f: described(symbol('apache.org:selector-filter:string'), "a = 'b'") },
      defaultOutcome: { kind: 'released' },
      outcomes: ['amqp:accepted:list'],
    },
    target: { kind: 'target', address: 't', capabilities: ['queue'] },
    unsettled: new Map([[Uint8Array.of(1), null]]),
    initialDeliveryCount: 0,
    maxMessageSize: 1n << 40n,
  }),
  frameBytes(AMQP_FRAME_TYPE, 1, compositeSpecs.flow, {
    nextIncomingId: 1,
    incomingWindow: 10,
    nextOutgoingId: 2,
    outgoingWindow: 10,
    handle: 0,
    deliveryCount: 3,
    linkCredit: 100,
    drain: true,
  }),
  frameBytes(
    AMQP_FRAME_TYPE,
    1,
    compositeSpecs.transfer,
    {
      handle: 0,
      deliveryId: 7,
      deliveryTag: Uint8Array.of(0, 0, 0, 7),
      messageFormat: 0,
      settled: false,
      state: { kind: 'transactionalState', txnId: Uint8Array.of(1), outcome: { kind: 'accepted' } },
    },
    encodeMessage({ durable: true, subject: 's', body: 'hello' }),
  ),
  frameBytes(AMQP_FRAME_TYPE, 1, compositeSpecs.disposition, {
    role: true,
    first: 1,
    last: 5,
    settled: true,
    state: { kind: 'modified', deliveryFailed: true, messageAnnotations: { x: 1 } },
  }),
  frameBytes(AMQP_FRAME_TYPE, 1, compositeSpecs.detach, { handle: 0, closed: true, error }),
  frameBytes(AMQP_FRAME_TYPE, 1, compositeSpecs.end, { error }),
  frameBytes(AMQP_FRAME_TYPE, 0, compositeSpecs.close, {}),
  frameBytes(SASL_FRAME_TYPE, 0, compositeSpecs.saslMechanisms, { saslServerMechanisms: ['PLAIN', 'ANONYMOUS'] }),
  frameBytes(SASL_FRAME_TYPE, 0, compositeSpecs.saslInit, {
    mechanism: 'PLAIN',
    initialResponse: Buffer.from('\0user\0pass'),
    hostname: 'h',
  }),
  frameBytes(SASL_FRAME_TYPE, 0, compositeSpecs.saslOutcome, { code: 0, additionalData: Uint8Array.of(1) }),
  (() => {
    const w = new ByteWriter(8);
    writeEmptyFrame(w);
    return w.toBuffer();
  })(),
];

// ---- Mutations ----

const FORMAT_CODES = [
  0x00, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x60, 0x61, 0x70, 0x71, 0x72,
  0x73, 0x74, 0x80, 0x81, 0x82, 0x83, 0x84, 0x94, 0x98, 0xa0, 0xa1, 0xa3, 0xb0, 0xb1, 0xb3, 0xc0, 0xc1, 0xd0, 0xd1,
  0xe0, 0xf0,
];
const SIZES_8 = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff];
const SIZES_32 = [0, 1, 2, 4, 8, 0xff, 0x100, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

function mutate(input: Uint8Array): Uint8Array {
  let b = Uint8Array.from(input);
  const rounds = rng.range(1, 3);
  for (let round = 0; round < rounds; round++) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(7)) {
      case 0: // flip one to four bits
        for (let i = rng.range(1, 4); i > 0 && b.length > 0; i--) b[rng.int(b.length)]! ^= 1 << rng.int(8);
        break;
      case 1: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 2: // cut a slice out of the middle
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(Math.min(b.length, at + rng.range(1, 8)))]);
        break;
      case 3: // insert random bytes or format codes
        b = Uint8Array.from([
          ...b.subarray(0, at),
          ...Array.from({ length: rng.range(1, 6) }, () => (rng.chance(0.5) ? rng.pick(FORMAT_CODES) : rng.int(256))),
          ...b.subarray(at),
        ]);
        break;
      case 4: // corrupt an 8-bit size or count
        if (b.length > 0) b[at] = rng.pick(SIZES_8);
        break;
      case 5: {
        // corrupt a 32-bit size or count
        if (b.length < 4) break;
        const p = rng.int(b.length - 3);
        const v = rng.chance(0.3) ? b.length - p + rng.range(-2, 2) : rng.pick(SIZES_32);
        new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(p, v >>> 0);
        break;
      }
      case 6: // replace a byte with a format code
        if (b.length > 0) b[at] = rng.pick(FORMAT_CODES);
        break;
    }
  }
  return b;
}

function randomInput(maxLength: number): Uint8Array {
  const n = rng.int(maxLength + 1);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.chance(0.35) ? rng.pick(FORMAT_CODES) : rng.int(256);
  return b;
}

/** A frame header around random or mutated body bytes, so that frame decoding gets past the header. */
function framed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setUint32(0, out.length);
  out[4] = 2;
  out[5] = rng.chance(0.5) ? AMQP_FRAME_TYPE : SASL_FRAME_TYPE;
  out.set(body, 8);
  return out;
}

// ---- The runs ----

describe(`decoder fuzz (seed ${SEED})`, () => {
  beforeEach(() => {
    failures.length = 0;
  });

  afterAll(() => {
    // Printed so that a run can be tied to its inputs.
    console.log(`decoder fuzz: ${inputs} inputs, seed ${SEED}`);
  });

  it('the corpus itself decodes (so the mutations start from valid input)', () => {
    for (const v of valueCorpus) expect(() => decodeValue(v)).not.toThrow();
    for (const m of messageCorpus) expect(() => decodeMessage(m, { values: 'exact' })).not.toThrow();
    for (const f of frameCorpus) expect(() => frameTarget(f)).not.toThrow();
  });

  it('random bytes: decodeValue, decodeMessage, frames and composites decode or throw DecodeError', () => {
    for (let i = 0; i < 12_000; i++) run('value', valueTarget, randomInput(40));
    for (let i = 0; i < 5_000; i++) run('message', messageTarget, randomInput(48));
    for (let i = 0; i < 3_000; i++) run('frame', frameTarget, randomInput(48));
    for (let i = 0; i < 3_000; i++) run('frame', frameTarget, framed(randomInput(40)));
    for (let i = 0; i < 3_000; i++)
      run(
        'composite',
        compositeTarget,
        Uint8Array.from([
          0x00,
          0x53,
          rng.pick([
            0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1d, 0x23, 0x24, 0x25, 0x27, 0x28, 0x29, 0x40, 0x41,
            0x44, 0x33, 0x34,
          ]),
          ...randomInput(30),
        ]),
      );
    expect(failures, report()).toEqual([]);
  });

  it('mutated values (bit flips, truncations, insertions, size corruption) decode or throw DecodeError, and what decodes re-encodes', () => {
    for (let i = 0; i < 36_000; i++) run('value', valueTarget, mutate(rng.pick(valueCorpus)));
    expect(failures, report()).toEqual([]);
  });

  it('mutated messages decode or throw DecodeError', () => {
    for (let i = 0; i < 22_000; i++) run('message', messageTarget, mutate(rng.pick(messageCorpus)));
    expect(failures, report()).toEqual([]);
  });

  it('mutated frames decode or throw DecodeError', () => {
    for (let i = 0; i < 18_000; i++) run('frame', frameTarget, mutate(rng.pick(frameCorpus)));
    // Keep the frame header intact now and then, so that the performatives get mutated too.
    for (let i = 0; i < 4_000; i++) run('frame', frameTarget, framed(mutate(rng.pick(frameCorpus).subarray(8))));
    expect(failures, report()).toEqual([]);
  });

  it('replays the committed corpus (inputs that once found a bug) through every decoder, each judged within a second', () => {
    for (const { name, bytes } of corpusOf('decoder')) {
      const start = performance.now();
      run(`value (corpus ${name})`, valueTarget, bytes);
      run(`message (corpus ${name})`, messageTarget, bytes);
      run(`frame (corpus ${name})`, frameTarget, bytes);
      run(`frame (corpus ${name}, as a frame body)`, frameTarget, framed(bytes));
      run(`composite (corpus ${name})`, compositeTarget, bytes);
      expect(performance.now() - start, name).toBeLessThan(1000);
    }
    expect(failures, report()).toEqual([]);
  });

  it('ran at least 100,000 inputs', () => {
    expect(inputs).toBeGreaterThanOrEqual(100_000);
  });
});

// ---- Hostile inputs: each must fail fast, without allocating what it declares ----

describe('hostile inputs', () => {
  /** Decodes `input`, expecting a DecodeError within `ms` and no great growth of the heap. */
  function expectQuickDecodeError(
    input: Uint8Array,
    decode: (b: Uint8Array) => unknown = decodeValue,
    ms = 1000,
  ): DecodeError {
    const heapBefore = process.memoryUsage().heapUsed;
    const start = performance.now();
    let error: unknown;
    try {
      decode(input);
    } catch (e) {
      error = e;
    }
    const elapsed = performance.now() - start;
    const grown = process.memoryUsage().heapUsed - heapBefore;
    expect(error).toBeInstanceOf(DecodeError);
    expect(elapsed).toBeLessThan(ms);
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    return error as DecodeError;
  }

  it.each([
    ['list32 declaring 2^32-1 elements', `d0 ${u32(8)} ffffffff 40 40 40 40`],
    ['list32 declaring a size of 4 GB', `d0 ffffffff ffffffff 40 40`],
    ['map32 declaring 2^32-1 elements', `d1 ${u32(8)} ffffffff 40 40 40 40`],
    ['map32 declaring a size of 4 GB', `d1 ffffffff 00000002 40 40`],
    ['array32 of ints declaring 2^32-1 elements', `f0 ${u32(7)} ffffffff 54 01 02`],
    ['array32 of nulls declaring 2^32-1 elements', `f0 ${u32(5)} ffffffff 40`],
    ['array32 of list0 declaring 2^32-1 elements', `f0 ${u32(5)} ffffffff 45`],
    ['array32 of arrays declaring 2^32-1 elements', `f0 ${u32(5)} ffffffff f0`],
    ['array32 declaring a size of 4 GB', `f0 ffffffff 00000001 54 01`],
    ['list8 declaring 255 elements in 3 bytes', 'c0 03 ff 40 40'],
    ['vbin32 declaring 4 GB', 'b0 ffffffff 00 01 02'],
    ['str32 declaring 4 GB', 'b1 ffffffff 61 62 63'],
    ['sym32 declaring 4 GB', 'b3 ffffffff 61 62 63'],
    ['vbin32 declaring 2 GB', 'b0 80000000 00'],
  ])('%s: DecodeError at once', (_name, input) => {
    const e = expectQuickDecodeError(h(input));
    expect(e.condition).toBe('amqp:decode-error');
  });

  it('the same declarations inside a message or a frame fail the same way', () => {
    expectQuickDecodeError(h(`00 53 77 d0 ${u32(8)} ffffffff 40 40 40 40`), decodeMessage);
    expectQuickDecodeError(h('00 53 75 b0 ffffffff 00'), decodeMessage);
    expectQuickDecodeError(h(`00 53 74 d1 ${u32(8)} ffffffff 40 40 40 40`), decodeMessage);
    const frame = h(`00 00 00 1a 02 00 00 00 00 53 10 d0 ${u32(8)} ffffffff a1 01 63 40`);
    expectQuickDecodeError(frame, frameTarget);
  });

  function nestedList32(levels: number): Buffer {
    // Each level is d0, a size that covers everything inside, and a count of 1.
    const out = Buffer.alloc(levels * 9 + 1);
    for (let i = 0; i < levels; i++) {
      const at = i * 9;
      out[at] = 0xd0;
      out.writeUInt32BE(out.length - at - 5, at + 1);
      out.writeUInt32BE(1, at + 5);
    }
    out[out.length - 1] = 0x40;
    return out;
  }

  it('lists nested 10,000 levels deep: DecodeError at once', () => {
    const e = expectQuickDecodeError(nestedList32(10_000));
    expect(e.message).toMatch(/nest/);
    const list8 = Buffer.concat([
      Buffer.from(Array.from({ length: 10_000 }, () => [0xc0, 0xff, 0x01]).flat()),
      h('40'),
    ]);
    expectQuickDecodeError(list8);
  });

  it('described values, maps and arrays nested 10,000 levels deep: DecodeError at once', () => {
    expectQuickDecodeError(Buffer.concat([Buffer.alloc(10_000, 0x00), h('40 40')]));
    expectQuickDecodeError(
      Buffer.concat([Buffer.from(Array.from({ length: 10_000 }, () => [0x00, 0x53, 0x01]).flat()), h('40')]),
    );
    const maps = Buffer.concat([
      Buffer.from(Array.from({ length: 10_000 }, () => [0xc1, 0xff, 0x02, 0x40]).flat()),
      h('40'),
    ]);
    expectQuickDecodeError(maps);
    const arrays = Buffer.concat([Buffer.from(Array.from({ length: 10_000 }, () => [0xe0, 0xff, 0x01, 0xe0]).flat())]);
    expectQuickDecodeError(arrays);
    // Nested in a message body and in a performative's fields too.
    expectQuickDecodeError(Buffer.concat([h('00 53 77'), nestedList32(10_000)]), decodeMessage);
    expectQuickDecodeError(Buffer.concat([h('00 53 10 c0 ff 01'), Buffer.alloc(10_000, 0x00)]), compositeTarget);
  });

  it('arrays of arrays of zero-width elements cannot turn a few KB into millions of values', () => {
    // 2,000 inner arrays of 65,536 nulls each: 18 KB that would declare 131 million values.
    // Array elements share the outer constructor (f0), so each inner array is size, count, 40.
    const inner = h(`${u32(5)} ${u32(65536)} 40`);
    const count = 2000;
    const body = Buffer.concat(Array.from({ length: count }, () => inner));
    const input = Buffer.concat([h(`f0 ${u32(4 + 1 + body.length)} ${u32(count)} f0`), body]);
    const e = expectQuickDecodeError(input);
    expect(e.message).toMatch(/zero-width/);
    // And the same through a list of such arrays, each with its own constructor.
    const listBody = Buffer.concat(Array.from({ length: count }, () => Buffer.concat([h('f0'), inner])));
    const list = Buffer.concat([h(`d0 ${u32(4 + listBody.length)} ${u32(count)}`), listBody]);
    expect(expectQuickDecodeError(list).message).toMatch(/zero-width/);
  });

  it('a frame body that claims more than the frame holds fails inside the frame', () => {
    const frame = h(`00 00 00 10 02 00 00 00 00 53 10 c0 ff 01 a1 ff`);
    expectQuickDecodeError(frame, frameTarget);
  });
});
