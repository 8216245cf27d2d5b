/**
 * fast-check arbitraries for AMQP values and messages, generated in exactly the shape the decoder
 * gives back (see src/codec/values.ts), so that a round trip can be compared with `amqpDifference`.
 */
import fc from 'fast-check';
import type { Message } from '../../src/codec/message.js';
import {
  AmqpArray,
  Typed,
  byte,
  char,
  decimal128,
  decimal32,
  decimal64,
  described,
  double,
  float,
  short,
  symbol,
  ubyte,
  uint,
  ulong,
  ushort,
  uuid,
  type AmqpValue,
  type ArrayElementType,
} from '../../src/codec/values.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** The range of `Date`, in ms; timestamps beyond it decode as Typed<'timestamp'> bigints. */
const MAX_DATE_MS = 8_640_000_000_000_000n;

export const uint32 = fc.integer({ min: 0, max: 0xffffffff });
export const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
export const uint64 = fc.bigInt({ min: 0n, max: UINT64_MAX });
export const int64 = fc.bigInt({ min: INT64_MIN, max: INT64_MAX });

/** Text, mostly short, sometimes long enough to need str32 (well-formed Unicode, any plane). */
export const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 250, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 60, maxLength: 140 }) },
);

/** ASCII text for symbols, mostly short, sometimes long enough to need sym32. */
export const asciiText = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 250, maxLength: 300 }) },
);

/** Bytes, mostly few, sometimes enough to need vbin32. */
export const bytes = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 16 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 300 }) },
);

export const uuidText = fc.uuid().map((u) => u.toLowerCase());
export const date = fc.date({ noInvalidDate: true });
const codePoint = fc.integer({ min: 0, max: 0x10ffff });
/** Timestamps outside the range of Date, which stay bigints. */
const farTimestamp = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: -MAX_DATE_MS - 1n }),
  fc.bigInt({ min: MAX_DATE_MS + 1n, max: INT64_MAX }),
);

/** Every scalar AMQP type, in its decoded shape. */
export const scalarArbitraries = {
  null: fc.constant(null),
  boolean: fc.boolean(),
  ubyte: fc.integer({ min: 0, max: 0xff }).map(ubyte),
  ushort: fc.integer({ min: 0, max: 0xffff }).map(ushort),
  uint: uint32.map(uint),
  ulong: uint64.map(ulong),
  byte: fc.integer({ min: -0x80, max: 0x7f }).map(byte),
  short: fc.integer({ min: -0x8000, max: 0x7fff }).map(short),
  int: int32,
  long: int64,
  float: fc.float().map(float),
  double: fc.double().map(double),
  decimal32: fc.uint8Array({ minLength: 4, maxLength: 4 }).map(decimal32),
  decimal64: fc.uint8Array({ minLength: 8, maxLength: 8 }).map(decimal64),
  decimal128: fc.uint8Array({ minLength: 16, maxLength: 16 }).map(decimal128),
  char: codePoint.map(char),
  timestamp: fc.oneof(
    { weight: 4, arbitrary: date },
    { weight: 1, arbitrary: farTimestamp.map((t) => new Typed('timestamp', t)) },
  ),
  uuid: uuidText.map(uuid),
  binary: bytes,
  string: text,
  symbol: asciiText.map(symbol),
} satisfies Record<string, fc.Arbitrary<AmqpValue>>;

export const scalar: fc.Arbitrary<AmqpValue> = fc.oneof(...Object.values(scalarArbitraries));

/** Array elements of each scalar type, in the plain form arrays hold them. */
const scalarElementArbitraries: Record<Exclude<ArrayElementType, 'list' | 'map' | 'array'>, fc.Arbitrary<AmqpValue>> = {
  boolean: fc.boolean(),
  ubyte: fc.integer({ min: 0, max: 0xff }),
  ushort: fc.integer({ min: 0, max: 0xffff }),
  uint: fc.oneof(fc.integer({ min: 0, max: 0xff }), uint32),
  ulong: fc.oneof(fc.bigInt({ min: 0n, max: 0xffn }), uint64),
  byte: fc.integer({ min: -0x80, max: 0x7f }),
  short: fc.integer({ min: -0x8000, max: 0x7fff }),
  int: fc.oneof(fc.integer({ min: -0x80, max: 0x7f }), int32),
  long: fc.oneof(fc.bigInt({ min: -0x80n, max: 0x7fn }), int64),
  float: fc.float(),
  double: fc.double(),
  decimal32: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  decimal64: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  decimal128: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  char: codePoint.map((cp) => String.fromCodePoint(cp)),
  timestamp: fc.oneof({ weight: 4, arbitrary: date }, { weight: 1, arbitrary: farTimestamp }),
  uuid: uuidText,
  binary: bytes,
  string: text,
  symbol: asciiText,
};
const scalarElementTypes = Object.keys(scalarElementArbitraries) as (keyof typeof scalarElementArbitraries)[];

/** Descriptors: mostly ulong and symbol, as the spec intends, sometimes another typed value. */
const descriptor: fc.Arbitrary<AmqpValue> = fc.oneof(
  { weight: 3, arbitrary: uint64.map(ulong) },
  { weight: 3, arbitrary: asciiText.map(symbol) },
  { weight: 1, arbitrary: fc.oneof(scalarArbitraries.uint, scalarArbitraries.ubyte, scalarArbitraries.uuid, bytes) },
);

// A type alias, not an interface: fc.letrec types its `tie` only for Record-compatible shapes.
type ValueTree = {
  value: AmqpValue;
  list: AmqpValue[];
  map: Map<AmqpValue, AmqpValue>;
  array: AmqpArray;
  described: AmqpValue;
};

const tree = fc.letrec<ValueTree>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4, withCrossShrink: true },
    { weight: 8, arbitrary: scalar },
    { weight: 1, arbitrary: tie('list') },
    { weight: 1, arbitrary: tie('map') },
    { weight: 1, arbitrary: tie('array') },
    { weight: 1, arbitrary: tie('described') },
  ),
  list: fc.array(tie('value'), { maxLength: 6 }),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 5 }).map((entries) => new Map(entries)),
  array: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    {
      weight: 6,
      arbitrary: fc.constantFrom(...scalarElementTypes).chain((type) => arrayOf(type, scalarElementArbitraries[type])),
    },
    { weight: 1, arbitrary: arrayOf('list', tie('list')) },
    { weight: 1, arbitrary: arrayOf('map', tie('map')) },
    { weight: 1, arbitrary: arrayOf('array', tie('array')) },
  ),
  described: fc.tuple(descriptor, tie('value')).map(([d, v]) => described(d, v)),
}));

function arrayOf(type: ArrayElementType, element: fc.Arbitrary<AmqpValue>): fc.Arbitrary<AmqpArray> {
  return fc
    .tuple(fc.array(element, { maxLength: 6 }), fc.option(descriptor, { freq: 4, nil: undefined }))
    .map(([elements, d]) => new AmqpArray(type, elements, d));
}

/** Any AMQP value, nested, in its decoded shape. */
export const amqpValue: fc.Arbitrary<AmqpValue> = tree.value;
export const amqpList = tree.list;
export const amqpMap = tree.map;
export const amqpArray = tree.array;

/** A message id: string, ulong (bigint), binary or uuid. */
/** Message ids as the exact decoder gives them back (a ulong id as a Typed ulong). */
export const messageId = fc.oneof(
  text,
  uint64.map((v) => ulong(v)),
  bytes,
  uuidText.map(uuid),
);

const annotations = fc.dictionary(fc.string({ unit: 'binary-ascii', maxLength: 12 }), amqpValue, {
  maxKeys: 4,
  noNullPrototype: true,
});
const applicationProperties = fc.dictionary(fc.string({ unit: 'binary', maxLength: 12 }), scalar, {
  maxKeys: 5,
  noNullPrototype: true,
});

const header = fc.record(
  {
    durable: fc.boolean(),
    priority: fc.integer({ min: 0, max: 0xff }),
    ttl: uint32,
    firstAcquirer: fc.boolean(),
    deliveryCount: uint32,
  },
  { requiredKeys: [] },
);

const properties = fc.record(
  {
    messageId,
    userId: bytes,
    to: text,
    subject: text,
    replyTo: text,
    correlationId: messageId,
    contentType: asciiText,
    contentEncoding: asciiText,
    absoluteExpiryTime: date,
    creationTime: date,
    groupId: text,
    groupSequence: uint32,
    replyToGroupId: text,
  },
  { requiredKeys: [] },
);

const sections = fc.record(
  { deliveryAnnotations: annotations, messageAnnotations: annotations, applicationProperties, footer: annotations },
  { requiredKeys: [] },
);

const body: fc.Arbitrary<Pick<Message, 'body' | 'bodyType'>> = fc.oneof(
  fc.constant({}),
  amqpValue.map((value) => ({ bodyType: 'value' as const, body: value })),
  bytes.map((data) => ({ bodyType: 'data' as const, body: data })),
  fc.array(bytes, { minLength: 2, maxLength: 4 }).map((data) => ({ bodyType: 'data' as const, body: data })),
  fc.array(amqpList, { minLength: 1, maxLength: 3 }).map((lists) => ({ bodyType: 'sequence' as const, body: lists })),
);

/**
 * A message with any sections, header and properties fields, in its decoded shape. A message
 * must hold more than a footer (spec 3.2); what the codec makes of one that does not is left to
 * the tests that are about it.
 */
export const message: fc.Arbitrary<Message> = fc
  .tuple(header, properties, sections, body)
  .map(([h, p, s, b]): Message => ({ ...h, ...p, ...s, ...b }))
  .filter((m) => Object.keys(m).some((k) => k !== 'footer'));
