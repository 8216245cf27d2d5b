/**
 * Quark and Qpid Proton agree on every AMQP type and every message section, both ways.
 *
 * The corpus is built at test time by tests/interop/proton/codec_peer.py with Proton's own API (Data
 * put_* calls, so each value has an explicit AMQP type, and proton.Message). Each item comes with a
 * typed description (the format is documented at the top of codec_peer.py) that both sides compare:
 *
 * 1. Proton → Quark: Quark decodes Proton's bytes to exactly the described types and values.
 * 2. Quark → Proton: Quark encodes the same logical corpus (built from the descriptions with Quark's
 *    constructors), and Proton decodes it to the same description. Quark's own re-decoding of its
 *    bytes must give the same values, and re-encoding them the same bytes.
 * 3. Forwarding: what Quark decoded from Proton, encoded again by Quark, is still what Proton sent.
 *
 * Bytes are never compared across the two implementations: each may pick other valid encodings
 * (Proton writes list32/map32/array32 and empty header and properties sections as list0).
 *
 * Python runs twice (build the corpus, then decode Quark's batch), never once per value.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requirePythonProton } from '../support/proton-peers.js';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import {
  AmqpArray,
  Described,
  Typed,
  array,
  byte,
  char,
  decimal128,
  decimal32,
  decimal64,
  decodeMessage,
  decodeValue,
  described,
  double,
  encodeMessage,
  encodeValue,
  float,
  int,
  long,
  short,
  symbol,
  timestamp,
  ubyte,
  uint,
  ulong,
  ulongAnnotations,
  ushort,
  uuid,
  type AmqpValue,
  type Annotations,
  type ArrayElementType,
  type Message,
} from '../../src/index.js';

// ---- Typed descriptions (the format codec_peer.py documents) ----

type NumberType = 'ubyte' | 'ushort' | 'uint' | 'byte' | 'short' | 'int';
type TextType =
  | 'ulong'
  | 'long'
  | 'timestamp'
  | 'float'
  | 'double'
  | 'decimal32'
  | 'decimal64'
  | 'decimal128'
  | 'uuid'
  | 'binary'
  | 'string'
  | 'symbol';

type Desc =
  | { type: 'null' }
  | { type: 'boolean'; value: boolean }
  | { type: NumberType; value: number }
  | { type: TextType; value: string }
  | { type: 'char'; value: number }
  | { type: 'list'; value: Desc[] }
  | { type: 'map'; value: [Desc, Desc][] }
  | { type: 'array'; element: ArrayElementType; value: Desc[]; descriptor?: Desc }
  | { type: 'described'; descriptor: Desc; value: Desc };

type Pairs = [Desc, Desc][];

type BodyDesc =
  | { section: 'amqp-value'; value: Desc }
  | { section: 'data'; value: string[] }
  | { section: 'amqp-sequence'; value: Desc[] };

interface MessageDesc {
  header?: Record<string, Desc>;
  'delivery-annotations'?: Pairs;
  'message-annotations'?: Pairs;
  properties?: Record<string, Desc>;
  'application-properties'?: Pairs;
  body?: BodyDesc;
  footer?: Pairs;
}

interface CorpusItem<K extends 'value' | 'message', D> {
  kind: K;
  name: string;
  hex: string;
  expected: D;
}
type ValueItem = CorpusItem<'value', Desc>;
type MessageItem = CorpusItem<'message', MessageDesc>;

interface PeerResult {
  name: string;
  ok: boolean;
  got?: Desc | MessageDesc;
  /** proton.Message's view (decoded, encoded again, described); null for zero bytes, which it cannot take. */
  viaMessage?: MessageDesc | null;
  error?: string;
}

const MAX_DATE_MS = 8.64e15;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function floatBits(x: number): string {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return b.toString('hex');
}
function doubleBits(x: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.toString('hex');
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
}

function shapeError(what: string, v: unknown): Error {
  return new Error(`${what}, got a ${kindOf(v)}: ${String(v)}`);
}

/** Describes a value as Quark decoded it, insisting on the one JS shape each AMQP type has. */
function describeValue(v: AmqpValue): Desc {
  if (v === null) return { type: 'null' };
  switch (typeof v) {
    case 'boolean':
      return { type: 'boolean', value: v };
    case 'number':
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff || Object.is(v, -0))
        throw shapeError('a plain number must be an int', v);
      return { type: 'int', value: v };
    case 'bigint':
      if (v < -(2n ** 63n) || v >= 2n ** 63n) throw shapeError('a bigint must be a long', v);
      return { type: 'long', value: v.toString() };
    case 'string':
      return { type: 'string', value: v };
  }
  if (v instanceof Typed) return describeTyped(v);
  if (v instanceof Uint8Array) return { type: 'binary', value: hex(v) };
  if (v instanceof Date) return { type: 'timestamp', value: String(v.getTime()) };
  if (Array.isArray(v)) return { type: 'list', value: v.map(describeValue) };
  if (v instanceof Map)
    return { type: 'map', value: [...v].map(([k, x]): [Desc, Desc] => [describeValue(k), describeValue(x)]) };
  if (v instanceof AmqpArray) {
    const d: Desc = { type: 'array', element: v.type, value: v.elements.map((e) => describeElement(v.type, e)) };
    if (v.descriptor !== undefined) d.descriptor = describeValue(v.descriptor);
    return d;
  }
  if (v instanceof Described)
    return { type: 'described', descriptor: describeValue(v.descriptor), value: describeValue(v.value) };
  throw shapeError('not a decoded AMQP value', v);
}

function describeTyped(t: Typed): Desc {
  const v: unknown = t.value;
  switch (t.type) {
    case 'ubyte':
    case 'ushort':
    case 'uint':
    case 'byte':
    case 'short':
      if (typeof v !== 'number') throw shapeError(`${t.type} must hold a number`, v);
      return { type: t.type, value: v };
    case 'float':
      if (typeof v !== 'number' || (Math.fround(v) !== v && !Number.isNaN(v)))
        throw shapeError('float must hold a single-precision number', v);
      return { type: 'float', value: floatBits(v) };
    case 'double':
      if (typeof v !== 'number') throw shapeError('double must hold a number', v);
      return { type: 'double', value: doubleBits(v) };
    case 'ulong':
    case 'timestamp':
      if (typeof v !== 'bigint') throw shapeError(`${t.type} must hold a bigint`, v);
      if (t.type === 'timestamp' && v >= -MAX_DATE_MS && v <= MAX_DATE_MS)
        throw shapeError('a timestamp within Date range must be a Date', v);
      return { type: t.type, value: v.toString() };
    case 'char': {
      if (typeof v !== 'string' || [...v].length !== 1) throw shapeError('char must hold one code point', v);
      return { type: 'char', value: v.codePointAt(0)! };
    }
    case 'symbol':
    case 'uuid':
      if (typeof v !== 'string') throw shapeError(`${t.type} must hold a string`, v);
      return { type: t.type, value: v };
    case 'decimal32':
    case 'decimal64':
    case 'decimal128':
      if (!(v instanceof Uint8Array)) throw shapeError(`${t.type} must hold bytes`, v);
      return { type: t.type, value: hex(v) };
  }
  throw shapeError('unknown Typed kind', t.type);
}

/** Describes an element of a decoded array, which Quark holds in the plain form of the array's type. */
function describeElement(type: ArrayElementType, e: AmqpValue): Desc {
  const need = (ok: boolean, form: string): void => {
    if (!ok) throw shapeError(`an element of an array of ${type} must be a ${form}`, e);
  };
  switch (type) {
    case 'boolean':
      need(typeof e === 'boolean', 'boolean');
      return { type, value: e as boolean };
    case 'ubyte':
    case 'ushort':
    case 'uint':
    case 'byte':
    case 'short':
    case 'int':
      need(typeof e === 'number', 'number');
      return { type, value: e as number };
    case 'float':
      need(typeof e === 'number', 'number');
      return { type, value: floatBits(e as number) };
    case 'double':
      need(typeof e === 'number', 'number');
      return { type, value: doubleBits(e as number) };
    case 'ulong':
    case 'long':
      need(typeof e === 'bigint', 'bigint');
      return { type, value: (e as bigint).toString() };
    case 'timestamp':
      if (e instanceof Date) return { type, value: String(e.getTime()) };
      need(typeof e === 'bigint', 'Date or bigint');
      return { type, value: (e as bigint).toString() };
    case 'char':
      need(typeof e === 'string' && [...e].length === 1, 'one-code-point string');
      return { type, value: (e as string).codePointAt(0)! };
    case 'uuid':
    case 'string':
    case 'symbol':
      need(typeof e === 'string', 'string');
      return { type, value: e as string };
    case 'binary':
    case 'decimal32':
    case 'decimal64':
    case 'decimal128':
      need(e instanceof Uint8Array, 'Uint8Array');
      return { type, value: hex(e as Uint8Array) };
    case 'list':
    case 'map':
    case 'array': {
      const d = describeValue(e);
      need(d.type === type, type);
      return d;
    }
  }
  throw shapeError('unknown array element type', type);
}

/** Builds the Quark value a description stands for, with Quark's constructors. */
function fromDesc(d: Desc): AmqpValue {
  switch (d.type) {
    case 'null':
      return null;
    case 'boolean':
      return d.value;
    case 'ubyte':
      return ubyte(d.value);
    case 'ushort':
      return ushort(d.value);
    case 'uint':
      return uint(d.value);
    case 'byte':
      return byte(d.value);
    case 'short':
      return short(d.value);
    case 'int':
      return int(d.value);
    case 'ulong':
      return ulong(d.value);
    case 'long':
      return long(d.value);
    case 'float':
      return float(Buffer.from(d.value, 'hex').readFloatBE());
    case 'double':
      return double(Buffer.from(d.value, 'hex').readDoubleBE());
    case 'decimal32':
      return decimal32(bytes(d.value));
    case 'decimal64':
      return decimal64(bytes(d.value));
    case 'decimal128':
      return decimal128(bytes(d.value));
    case 'char':
      return char(d.value);
    case 'timestamp': {
      const ms = BigInt(d.value);
      // Beyond the range of Date, Quark holds a timestamp as a Typed bigint.
      return ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS ? timestamp(Number(ms)) : new Typed('timestamp', ms);
    }
    case 'uuid':
      return uuid(d.value);
    case 'binary':
      return bytes(d.value);
    case 'string':
      return d.value;
    case 'symbol':
      return symbol(d.value);
    case 'list':
      return d.value.map(fromDesc);
    case 'map':
      return new Map(d.value.map(([k, v]): [AmqpValue, AmqpValue] => [fromDesc(k), fromDesc(v)]));
    case 'array': {
      // Elements in their plain form, as decoded arrays hold them.
      const elements = d.value.map((e) => {
        const v = fromDesc(e);
        return v instanceof Typed ? (v.value as AmqpValue) : v;
      });
      return array(d.element, elements, d.descriptor === undefined ? undefined : fromDesc(d.descriptor));
    }
    case 'described':
      return exactDescribed(fromDesc(d.descriptor), fromDesc(d.value));
  }
}

/**
 * `described()` takes a plain string, number or bigint descriptor as a symbol or ulong, so a
 * descriptor that really is a string, int or long is built the way the decoder builds it.
 */
function exactDescribed(descriptor: AmqpValue, value: AmqpValue): Described {
  if (typeof descriptor !== 'string' && typeof descriptor !== 'number' && typeof descriptor !== 'bigint')
    return described(descriptor, value);
  const d = decodeValue(Buffer.concat([Buffer.from([0x00]), encodeValue(descriptor), encodeValue(value)]));
  if (!(d instanceof Described)) throw new Error('a described value did not decode as one');
  return d;
}

// ---- Messages ----

const headerFields = compositeSpecs.header.fields;
const propertiesFields = compositeSpecs.properties.fields;

/** Describes a header or properties field of a decoded message by the field's AMQP type. */
function describeField(section: 'header' | 'properties', name: string, v: unknown): Desc {
  const kind = [...headerFields, ...propertiesFields].find((f) => f.name === name)!.kind;
  const wrong = (): Error => shapeError(`${section}.${name} (${kind})`, v);
  switch (kind) {
    case 'boolean':
      if (typeof v !== 'boolean') throw wrong();
      return { type: 'boolean', value: v };
    case 'ubyte':
    case 'uint':
      if (typeof v !== 'number') throw wrong();
      return { type: kind, value: v };
    case 'binary':
      if (!(v instanceof Uint8Array)) throw wrong();
      return { type: 'binary', value: hex(v) };
    case 'string':
      if (typeof v !== 'string') throw wrong();
      return { type: 'string', value: v };
    case 'symbol':
      if (typeof v !== 'string') throw wrong();
      return { type: 'symbol', value: v };
    case 'timestamp':
      if (v instanceof Date) return { type: 'timestamp', value: String(v.getTime()) };
      if (typeof v !== 'bigint') throw wrong();
      return { type: 'timestamp', value: v.toString() };
    case 'any':
      // message-id and correlation-id: a ulong is decoded as a plain bigint.
      if (typeof v === 'bigint' && (name === 'messageId' || name === 'correlationId'))
        return { type: 'ulong', value: v.toString() };
      return describeValue(v as AmqpValue);
  }
  throw wrong();
}

function describeKeyed(obj: Annotations, keyType: 'symbol' | 'string'): Pairs {
  // Entries keyed by the spec's reserved ulong keys come first, as Quark writes them.
  const reserved = [...(obj[ulongAnnotations] ?? [])].map(([k, v]): [Desc, Desc] => [
    describeValue(ulong(k)),
    describeValue(v),
  ]);
  return [
    ...reserved,
    ...Object.entries(obj).map(([k, v]): [Desc, Desc] => [{ type: keyType, value: k }, describeValue(v)]),
  ];
}

/** Describes a message as Quark decoded it, section by section (header and properties by spec name). */
function describeMessage(m: Message): MessageDesc {
  const out: MessageDesc = {};
  const fields = m as Record<string, unknown>;
  for (const [section, specFields] of [
    ['header', headerFields],
    ['properties', propertiesFields],
  ] as const) {
    const described: Record<string, Desc> = {};
    for (const f of specFields) {
      if (fields[f.name] !== undefined) described[f.specName] = describeField(section, f.name, fields[f.name]);
    }
    if (Object.keys(described).length > 0) out[section] = described;
  }
  if (m.deliveryAnnotations) out['delivery-annotations'] = describeKeyed(m.deliveryAnnotations, 'symbol');
  if (m.messageAnnotations) out['message-annotations'] = describeKeyed(m.messageAnnotations, 'symbol');
  if (m.applicationProperties) out['application-properties'] = describeKeyed(m.applicationProperties, 'string');
  switch (m.bodyType) {
    case 'value':
      out.body = { section: 'amqp-value', value: describeValue(m.body ?? null) };
      break;
    case 'data': {
      const sections = m.body instanceof Uint8Array ? [m.body] : m.body;
      if (!Array.isArray(sections) || !sections.every((s) => s instanceof Uint8Array))
        throw shapeError('a data body must be bytes', m.body);
      out.body = { section: 'data', value: sections.map((s) => hex(s as Uint8Array)) };
      break;
    }
    case 'sequence':
      if (!Array.isArray(m.body)) throw shapeError('a sequence body must be an array of lists', m.body);
      out.body = { section: 'amqp-sequence', value: m.body.map(describeValue) };
      break;
    case undefined:
      if (m.body !== undefined) throw shapeError('a decoded body needs a bodyType', m.body);
  }
  if (m.footer) out.footer = describeKeyed(m.footer, 'symbol');
  return out;
}

/** A header or properties field value for a Quark message, from its description. */
function fieldFromDesc(name: string, d: Desc): unknown {
  switch (d.type) {
    case 'boolean':
    case 'ubyte':
    case 'uint':
    case 'string':
    case 'symbol':
      return d.value;
    case 'binary':
      return bytes(d.value);
    case 'timestamp': {
      // Beyond the range of Date, Quark holds a timestamp field as bigint milliseconds.
      const ms = BigInt(d.value);
      return ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS ? new Date(Number(ms)) : ms;
    }
    case 'ulong':
      return BigInt(d.value); // message-id, correlation-id
    case 'uuid':
      return uuid(d.value);
  }
  throw new Error(`no Quark message field form for ${name} of type ${d.type}`);
}

function keyedFromDesc(pairs: Pairs, keyType: 'symbol' | 'string'): Annotations {
  const obj: Annotations = {};
  for (const [k, v] of pairs) {
    if (k.type === 'ulong' && keyType === 'symbol') {
      // The spec's reserved ulong annotation keys live apart from the symbol-keyed properties.
      (obj[ulongAnnotations] ??= new Map()).set(BigInt(k.value as string), fromDesc(v));
      continue;
    }
    if (k.type !== keyType) throw new Error(`Quark's message model takes only ${keyType} keys here, not a ${k.type}`);
    Object.defineProperty(obj, k.value as string, {
      value: fromDesc(v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return obj;
}

/** Builds the Quark message a description stands for. */
function messageFromDesc(d: MessageDesc): Message {
  const m: Message = {};
  const fields = m as Record<string, unknown>;
  for (const [section, specFields] of [
    ['header', headerFields],
    ['properties', propertiesFields],
  ] as const) {
    for (const f of specFields) {
      const fd = d[section]?.[f.specName];
      if (fd !== undefined) fields[f.name] = fieldFromDesc(f.specName, fd);
    }
  }
  if (d['delivery-annotations']) m.deliveryAnnotations = keyedFromDesc(d['delivery-annotations'], 'symbol');
  if (d['message-annotations']) m.messageAnnotations = keyedFromDesc(d['message-annotations'], 'symbol');
  if (d['application-properties']) m.applicationProperties = keyedFromDesc(d['application-properties'], 'string');
  if (d.body) {
    switch (d.body.section) {
      case 'amqp-value':
        m.bodyType = 'value';
        m.body = fromDesc(d.body.value);
        break;
      case 'data':
        m.bodyType = 'data';
        m.body = d.body.value.length === 1 ? bytes(d.body.value[0]!) : d.body.value.map(bytes);
        break;
      case 'amqp-sequence':
        m.bodyType = 'sequence';
        m.body = d.body.value.map(fromDesc);
        break;
    }
  }
  if (d.footer) m.footer = keyedFromDesc(d.footer, 'symbol');
  return m;
}

const HEADER_DEFAULTS: Record<string, unknown> = {
  durable: false,
  priority: 4,
  ttl: 0,
  'first-acquirer': false,
  'delivery-count': 0,
};
const PROPERTIES_ZEROES: Record<string, unknown> = {
  'absolute-expiry-time': '0',
  'creation-time': '0',
  'group-sequence': 0,
};

/**
 * What proton.Message keeps of a message (seen by decoding with it and encoding again): header
 * fields equal to their defaults and zero times or group-sequence are not written, there is no
 * footer, only the last data or amqp-sequence section is kept, and a null amqp-value is no body.
 */
function protonMessageView(d: MessageDesc): MessageDesc {
  const out: MessageDesc = { ...d };
  const drop = (
    fields: Record<string, Desc> | undefined,
    defaults: Record<string, unknown>,
  ): Record<string, Desc> | undefined => {
    if (!fields) return undefined;
    const kept = Object.fromEntries(
      Object.entries(fields).filter(([k, f]) => !('value' in f && defaults[k] === f.value)),
    );
    return Object.keys(kept).length > 0 ? kept : undefined;
  };
  const header = drop(d.header, HEADER_DEFAULTS);
  const properties = drop(d.properties, PROPERTIES_ZEROES);
  if (header) out.header = header;
  else delete out.header;
  if (properties) out.properties = properties;
  else delete out.properties;
  delete out.footer;
  if (d.body?.section === 'amqp-value' && d.body.value.type === 'null') delete out.body;
  if (d.body?.section === 'data') out.body = { section: 'data', value: d.body.value.slice(-1) };
  if (d.body?.section === 'amqp-sequence') out.body = { section: 'amqp-sequence', value: d.body.value.slice(-1) };
  return out;
}

// ---- Idiomatic Quark values, beyond the shared corpus (Quark → Proton only) ----

const t = {
  null: (): Desc => ({ type: 'null' }),
  int: (value: number): Desc => ({ type: 'int', value }),
  uint: (value: number): Desc => ({ type: 'uint', value }),
  ubyte: (value: number): Desc => ({ type: 'ubyte', value }),
  long: (value: bigint | number): Desc => ({ type: 'long', value: String(value) }),
  ulong: (value: bigint | number): Desc => ({ type: 'ulong', value: String(value) }),
  double: (value: number): Desc => ({ type: 'double', value: doubleBits(value) }),
  timestamp: (ms: bigint | number): Desc => ({ type: 'timestamp', value: String(ms) }),
  char: (c: string): Desc => ({ type: 'char', value: c.codePointAt(0)! }),
  string: (value: string): Desc => ({ type: 'string', value }),
  symbol: (value: string): Desc => ({ type: 'symbol', value }),
  binary: (h: string): Desc => ({ type: 'binary', value: h }),
  boolean: (value: boolean): Desc => ({ type: 'boolean', value }),
  uuid: (value: string): Desc => ({ type: 'uuid', value }),
  list: (...value: Desc[]): Desc => ({ type: 'list', value }),
  map: (...value: [Desc, Desc][]): Desc => ({ type: 'map', value }),
  array: (element: ArrayElementType, value: Desc[], descriptor?: Desc): Desc =>
    descriptor === undefined ? { type: 'array', element, value } : { type: 'array', element, value, descriptor },
  described: (descriptor: Desc, value: Desc): Desc => ({ type: 'described', descriptor, value }),
};

const UUID_A = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const nullProto: Record<string, AmqpValue> = Object.create(null) as Record<string, AmqpValue>;
nullProto.k = 1;

/** Plain JavaScript values and Quark's constructors, with the AMQP types they must arrive as. */
const idiomaticValues: { name: string; value: AmqpValue; expected: Desc }[] = [
  { name: 'number 1 is an int', value: 1, expected: t.int(1) },
  { name: 'number -129 is an int', value: -129, expected: t.int(-129) },
  { name: 'number 2^31 is a long', value: 2 ** 31, expected: t.long(2 ** 31) },
  { name: 'number -2^31-1 is a long', value: -(2 ** 31) - 1, expected: t.long(-(2 ** 31) - 1) },
  { name: 'number 2^53-1 is a long', value: Number.MAX_SAFE_INTEGER, expected: t.long(Number.MAX_SAFE_INTEGER) },
  { name: 'number 2^53 is a double', value: 2 ** 53, expected: t.double(2 ** 53) },
  { name: 'number 1.5 is a double', value: 1.5, expected: t.double(1.5) },
  { name: 'number -0 is a double', value: -0, expected: t.double(-0) },
  { name: 'NaN is a double', value: NaN, expected: t.double(NaN) },
  { name: '-Infinity is a double', value: -Infinity, expected: t.double(-Infinity) },
  { name: 'bigint 5n is a long', value: 5n, expected: t.long(5) },
  { name: 'bigint -2^63 is a long', value: -(2n ** 63n), expected: t.long(-(2n ** 63n)) },
  { name: 'bigint 2^63 is a ulong', value: 2n ** 63n, expected: t.ulong(2n ** 63n) },
  { name: 'string is a string', value: 'h\u00e9 \u{1F600}', expected: t.string('h\u00e9 \u{1F600}') },
  { name: 'Buffer is binary', value: Buffer.from('ab'), expected: t.binary('6162') },
  {
    name: 'Uint8Array view is binary (only its bytes)',
    value: new Uint8Array([9, 1, 2, 9]).subarray(1, 3),
    expected: t.binary('0102'),
  },
  { name: 'Date is a timestamp', value: new Date(1700000000123), expected: t.timestamp(1700000000123) },
  { name: 'Date before the epoch is a timestamp', value: new Date(-1), expected: t.timestamp(-1) },
  { name: 'timestamp(ms) is a timestamp', value: timestamp(0), expected: t.timestamp(0) },
  { name: 'char from a code point', value: char(0x1f600), expected: t.char('\u{1F600}') },
  { name: 'symbol', value: symbol('amqp:accepted:list'), expected: t.symbol('amqp:accepted:list') },
  { name: 'uuid from upper-case text', value: uuid(UUID_A.toUpperCase()), expected: t.uuid(UUID_A) },
  { name: 'uuid from bytes', value: uuid(bytes(UUID_A.replace(/-/g, ''))), expected: t.uuid(UUID_A) },
  {
    name: 'plain object is a map with string keys, undefined left out',
    value: { a: 1, b: 'x', c: undefined, d: null },
    expected: t.map([t.string('a'), t.int(1)], [t.string('b'), t.string('x')], [t.string('d'), t.null()]),
  },
  { name: 'null-prototype object is a map', value: nullProto, expected: t.map([t.string('k'), t.int(1)]) },
  {
    name: 'array is a list, undefined as null',
    value: [1, 'a', null, undefined as unknown as null],
    expected: t.list(t.int(1), t.string('a'), t.null(), t.null()),
  },
  {
    name: 'Map keeps int, long, ulong, string and symbol keys apart',
    value: new Map<AmqpValue, AmqpValue>([
      [1, 'int'],
      [1n, 'long'],
      [ulong(1), 'ulong'],
      ['1', 'string'],
      [symbol('1'), 'symbol'],
    ]),
    expected: t.map(
      [t.int(1), t.string('int')],
      [t.long(1), t.string('long')],
      [t.ulong(1), t.string('ulong')],
      [t.string('1'), t.string('string')],
      [t.symbol('1'), t.string('symbol')],
    ),
  },
  {
    name: 'array of Typed ubyte elements',
    value: array('ubyte', [ubyte(1), ubyte(255)]),
    expected: t.array('ubyte', [t.ubyte(1), t.ubyte(255)]),
  },
  {
    name: 'array of ints needing 32 bits',
    value: array('int', [1, 200, -129]),
    expected: t.array('int', [t.int(1), t.int(200), t.int(-129)]),
  },
  { name: 'array of small longs', value: array('long', [1n, -1n]), expected: t.array('long', [t.long(1), t.long(-1)]) },
  {
    name: 'array of longs from numbers',
    value: array('long', [1, 300]),
    expected: t.array('long', [t.long(1), t.long(300)]),
  },
  {
    name: 'array of small ulongs',
    value: array('ulong', [0n, 255n]),
    expected: t.array('ulong', [t.ulong(0), t.ulong(255)]),
  },
  {
    name: 'array of ulongs',
    value: array('ulong', [0n, 256n]),
    expected: t.array('ulong', [t.ulong(0), t.ulong(256)]),
  },
  { name: 'array of small uints', value: array('uint', [0, 255]), expected: t.array('uint', [t.uint(0), t.uint(255)]) },
  { name: 'array of uints', value: array('uint', [256, 0]), expected: t.array('uint', [t.uint(256), t.uint(0)]) },
  {
    name: 'array of timestamps, Date and bigint',
    value: array('timestamp', [new Date(5), 2n ** 62n]),
    expected: t.array('timestamp', [t.timestamp(5), t.timestamp(2n ** 62n)]),
  },
  {
    name: 'array of chars',
    value: array('char', ['a', '\u{1F600}']),
    expected: t.array('char', [t.char('a'), t.char('\u{1F600}')]),
  },
  {
    name: 'array of strings needing str32',
    value: array('string', ['\u20ac'.repeat(100), '']),
    expected: t.array('string', [t.string('\u20ac'.repeat(100)), t.string('')]),
  },
  {
    name: 'array of symbols needing sym32',
    value: array('symbol', ['s'.repeat(256)]),
    expected: t.array('symbol', [t.symbol('s'.repeat(256))]),
  },
  {
    name: 'array of binaries needing vbin32',
    value: array('binary', [new Uint8Array(300)]),
    expected: t.array('binary', [t.binary('00'.repeat(300))]),
  },
  {
    name: 'array of maps, a Map and a plain object',
    value: array('map', [new Map<AmqpValue, AmqpValue>([[symbol('k'), 1]]), { a: 1 }]),
    expected: t.array('map', [t.map([t.symbol('k'), t.int(1)]), t.map([t.string('a'), t.int(1)])]),
  },
  { name: 'array of lists', value: array('list', [[1], []]), expected: t.array('list', [t.list(t.int(1)), t.list()]) },
  {
    name: 'array of arrays',
    value: array('array', [array('int', [1]), array('int', [])]),
    expected: t.array('array', [t.array('int', [t.int(1)]), t.array('int', [])]),
  },
  {
    name: 'described array with a ulong descriptor',
    value: array('int', [1], ulong(0x1234)),
    expected: t.array('int', [t.int(1)], t.ulong(0x1234)),
  },
  {
    name: 'described array with a symbol descriptor',
    value: array('symbol', ['a'], symbol('x:y')),
    expected: t.array('symbol', [t.symbol('a')], t.symbol('x:y')),
  },
  {
    name: 'described with a number descriptor',
    value: described(0x24, []),
    expected: t.described(t.ulong(0x24), t.list()),
  },
  {
    name: 'described with a bigint descriptor',
    value: described(2n ** 64n - 1n, 'x'),
    expected: t.described(t.ulong(2n ** 64n - 1n), t.string('x')),
  },
  {
    name: 'described with a string descriptor is a symbol',
    value: described('com.example:x', { a: 1 }),
    expected: t.described(t.symbol('com.example:x'), t.map([t.string('a'), t.int(1)])),
  },
];

const idiomaticMessages: { name: string; message: Message; expected: MessageDesc }[] = [
  {
    name: 'a string body is an amqp-value',
    message: { body: 'hello' },
    expected: { body: { section: 'amqp-value', value: t.string('hello') } },
  },
  {
    name: 'a Uint8Array body is one data section',
    message: { body: Buffer.from('data') },
    expected: { body: { section: 'data', value: ['64617461'] } },
  },
  {
    name: "a Uint8Array body with bodyType 'value' is an amqp-value",
    message: { body: new Uint8Array([1]), bodyType: 'value' },
    expected: { body: { section: 'amqp-value', value: t.binary('01') } },
  },
  {
    name: "bodyType 'data' with several Uint8Arrays is several data sections",
    message: { body: [Buffer.from('a'), new Uint8Array(0), Buffer.from('c')], bodyType: 'data' },
    expected: { body: { section: 'data', value: ['61', '', '63'] } },
  },
  {
    name: "bodyType 'sequence' is one amqp-sequence section per list",
    message: { body: [[1, 'a'], []], bodyType: 'sequence' },
    expected: { body: { section: 'amqp-sequence', value: [t.list(t.int(1), t.string('a')), t.list()] } },
  },
  {
    name: 'a null body is an amqp-value of null',
    message: { body: null },
    expected: { body: { section: 'amqp-value', value: t.null() } },
  },
  {
    name: 'an array body is an amqp-value list',
    message: { body: [1, 2] },
    expected: { body: { section: 'amqp-value', value: t.list(t.int(1), t.int(2)) } },
  },
  {
    name: 'header fields, false and zero written out',
    message: { durable: true, priority: 9, ttl: 1000, firstAcquirer: false, deliveryCount: 0 },
    expected: {
      header: {
        durable: t.boolean(true),
        priority: t.ubyte(9),
        ttl: t.uint(1000),
        'first-acquirer': t.boolean(false),
        'delivery-count': t.uint(0),
      },
    },
  },
  {
    name: 'properties from numbers, bigints and Dates',
    message: {
      messageId: 5,
      correlationId: 7n,
      creationTime: 1700000000123,
      absoluteExpiryTime: new Date(1700000060000),
      groupSequence: 3,
      contentType: 'text/plain',
      contentEncoding: 'gzip',
      to: 'q',
      replyTo: 'r',
      userId: Buffer.from('u'),
    },
    expected: {
      properties: {
        'message-id': t.ulong(5),
        'correlation-id': t.ulong(7),
        'creation-time': t.timestamp(1700000000123),
        'absolute-expiry-time': t.timestamp(1700000060000),
        'group-sequence': t.uint(3),
        'content-type': t.symbol('text/plain'),
        'content-encoding': t.symbol('gzip'),
        to: t.string('q'),
        'reply-to': t.string('r'),
        'user-id': t.binary('75'),
      },
    },
  },
  {
    name: 'uuid message id and binary correlation id',
    message: { messageId: uuid(UUID_A), correlationId: new Uint8Array([1, 2]), subject: '' },
    expected: {
      properties: { 'message-id': t.uuid(UUID_A), 'correlation-id': t.binary('0102'), subject: t.string('') },
    },
  },
  {
    name: 'application properties from plain values, undefined left out',
    message: {
      applicationProperties: { a: 1, b: 'x', c: 2n, d: true, e: null, f: undefined as unknown as null, g: 1.5 },
    },
    expected: {
      'application-properties': [
        [t.string('a'), t.int(1)],
        [t.string('b'), t.string('x')],
        [t.string('c'), t.long(2)],
        [t.string('d'), t.boolean(true)],
        [t.string('e'), t.null()],
        [t.string('g'), t.double(1.5)],
      ],
    },
  },
  {
    name: 'annotations and footer keyed by symbols',
    message: {
      deliveryAnnotations: { 'x-opt-c': ulong(1) },
      messageAnnotations: { 'x-opt-a': symbol('s'), 'x-opt-b': 1 },
      body: 'b',
      footer: { 'x-opt-d': Buffer.from([0xff]) },
    },
    expected: {
      'delivery-annotations': [[t.symbol('x-opt-c'), t.ulong(1)]],
      'message-annotations': [
        [t.symbol('x-opt-a'), t.symbol('s')],
        [t.symbol('x-opt-b'), t.int(1)],
      ],
      body: { section: 'amqp-value', value: t.string('b') },
      footer: [[t.symbol('x-opt-d'), t.binary('ff')]],
    },
  },
];

// ---- Running Proton ----

const PEER = fileURLToPath(new URL('./proton/codec_peer.py', import.meta.url));

function runPeer(mode: 'corpus' | 'decode', input?: string): string {
  const python = requirePythonProton();
  const r = spawnSync(python, [PEER, mode], { input, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: 60_000 });
  if (r.error) throw new Error(`could not run ${python} ${PEER} ${mode}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${PEER} ${mode} exited with ${String(r.status ?? r.signal)}:\n${r.stderr}`);
  return r.stdout;
}

function parseLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

interface Job {
  kind: 'value' | 'message';
  name: string;
  hex: string;
}

interface Setup {
  values: ValueItem[];
  messages: MessageItem[];
  /** Quark's encodings sent to Proton, or the error Quark threw instead, by job name. */
  encoded: Map<string, Uint8Array | Error>;
  /** Proton's decoding of each job, by job name. */
  decoded: Map<string, PeerResult>;
}

function encodeJob(
  jobs: Job[],
  encoded: Map<string, Uint8Array | Error>,
  kind: Job['kind'],
  name: string,
  encode: () => Uint8Array,
): void {
  try {
    const b = encode();
    encoded.set(name, b);
    jobs.push({ kind, name, hex: hex(b) });
  } catch (e) {
    encoded.set(name, e instanceof Error ? e : new Error(String(e)));
  }
}

function prepare(): Setup {
  requirePythonProton(); // fails, saying what to install, when Proton is missing (never a skip)
  const corpus = parseLines<ValueItem | MessageItem>(runPeer('corpus'));
  const values = corpus.filter((c): c is ValueItem => c.kind === 'value');
  const messages = corpus.filter((c): c is MessageItem => c.kind === 'message');

  const jobs: Job[] = [];
  const encoded = new Map<string, Uint8Array | Error>();
  for (const v of values) {
    encodeJob(jobs, encoded, 'value', `quark:${v.name}`, () => encodeValue(fromDesc(v.expected)));
    encodeJob(jobs, encoded, 'value', `forward:${v.name}`, () => encodeValue(decodeValue(bytes(v.hex))));
  }
  for (const m of messages) {
    encodeJob(jobs, encoded, 'message', `quark:${m.name}`, () => encodeMessage(messageFromDesc(m.expected)));
    encodeJob(jobs, encoded, 'message', `forward:${m.name}`, () =>
      encodeMessage(decodeMessage(bytes(m.hex), { values: 'exact' })),
    );
  }
  for (const v of idiomaticValues) encodeJob(jobs, encoded, 'value', `idiomatic:${v.name}`, () => encodeValue(v.value));
  for (const m of idiomaticMessages)
    encodeJob(jobs, encoded, 'message', `idiomatic:${m.name}`, () => encodeMessage(m.message));

  const results = parseLines<PeerResult>(runPeer('decode', jobs.map((j) => JSON.stringify(j)).join('\n') + '\n'));
  const decoded = new Map(results.map((r) => [r.name, r]));
  if (decoded.size !== jobs.length) throw new Error(`Proton answered ${decoded.size} of ${jobs.length} items`);
  return { values, messages, encoded, decoded };
}

let setup: Setup | undefined;
let setupError: Error | undefined;
try {
  setup = prepare();
} catch (e) {
  setupError = e instanceof Error ? e : new Error(String(e));
}

/** Quark's bytes for a job (failing the test with Quark's error if it could not encode). */
function quarkBytes(name: string): Uint8Array {
  const b = setup!.encoded.get(name);
  if (b instanceof Error) throw new Error(`Quark could not encode ${name}: ${b.message}`, { cause: b });
  if (b === undefined) throw new Error(`no job named ${name}`);
  return b;
}

/** What Proton decoded Quark's bytes as. */
function protonGot(name: string): PeerResult {
  quarkBytes(name);
  const r = setup!.decoded.get(name);
  if (!r) throw new Error(`Proton did not answer for ${name}`);
  if (!r.ok) throw new Error(`Proton could not decode Quark's bytes for ${name}: ${r.error ?? '?'}`);
  return r;
}

/**
 * A message with no section at all is not a message (spec 3.2 requires a body), so Quark writes
 * such a message as an amqp-value of null: the one place its bytes say more than Proton's.
 */
function asQuarkWrites(expected: MessageDesc): MessageDesc {
  return Object.keys(expected).length === 0
    ? ({ body: { section: 'amqp-value', value: { type: 'null' } } } as unknown as MessageDesc)
    : expected;
}

/**
 * proton.Message must understand Quark's bytes too. A message with no section at all is zero bytes,
 * which Proton's pn_message_decode cannot take (it asserts a non-empty buffer and aborts).
 */
function expectProtonMessageView(r: PeerResult, expected: MessageDesc): void {
  if (Object.keys(expected).length === 0) expect(r.viaMessage).toBeNull();
  else expect(r.viaMessage).toEqual(protonMessageView(expected));
}

function expectQuarkRoundTrip(b: Uint8Array, expected: Desc): void {
  const again = decodeValue(b);
  expect(describeValue(again)).toEqual(expected);
  expect(hex(encodeValue(again))).toBe(hex(b));
}

function expectQuarkMessageRoundTrip(b: Uint8Array, expected: MessageDesc): void {
  const again = decodeMessage(b, { values: 'exact' });
  expect(describeMessage(again)).toEqual(expected);
  expect(hex(encodeMessage(again))).toBe(hex(b));
}

/**
 * Corpus items Quark cannot handle yet, and why. Their tests are expected to fail (`it.fails`), so
 * that fixing one shows up here as a failure asking for its entry to go.
 */
const KNOWN_GAPS: Record<string, string> = {};

/** A test of the corpus item `name`, titled `title`. */
function itItem(name: string, test: () => void, title = name): void {
  const gap = KNOWN_GAPS[name];
  if (gap === undefined) it(title, test);
  else it.fails(`${title} (known gap: ${gap})`, test);
}

describe('Qpid Proton interop: codec', () => {
  it('has Qpid Proton for Python and a corpus built with it', () => {
    if (setupError) throw setupError;
    expect(setup!.values.length).toBeGreaterThan(150);
    expect(setup!.messages.length).toBeGreaterThan(20);
  });
  if (!setup) return;
  const { values, messages } = setup;

  describe('Proton → Quark: Quark decodes every value Proton encodes, type included', () => {
    for (const v of values) {
      itItem(v.name, () => {
        expect(describeValue(decodeValue(bytes(v.hex)))).toEqual(v.expected);
      });
    }
  });

  describe('Proton → Quark: Quark decodes every message Proton encodes, section by section', () => {
    for (const m of messages) {
      itItem(m.name, () => {
        expect(describeMessage(decodeMessage(bytes(m.hex), { values: 'exact' }))).toEqual(m.expected);
      });
    }
  });

  describe('Quark → Proton: Proton decodes every value Quark encodes, type included', () => {
    for (const v of values) {
      itItem(v.name, () => {
        expect(protonGot(`quark:${v.name}`).got).toEqual(v.expected);
        expectQuarkRoundTrip(quarkBytes(`quark:${v.name}`), v.expected);
      });
    }
  });

  describe('Quark → Proton: Proton decodes every message Quark encodes, with Data and with proton.Message', () => {
    for (const m of messages) {
      itItem(m.name, () => {
        const r = protonGot(`quark:${m.name}`);
        const expected = asQuarkWrites(m.expected);
        expect(r.got).toEqual(expected);
        expectProtonMessageView(r, expected);
        expectQuarkMessageRoundTrip(quarkBytes(`quark:${m.name}`), expected);
      });
    }
  });

  describe('Forwarding: a value or message Quark decoded from Proton, encoded again, is what Proton sent', () => {
    for (const v of values) {
      itItem(
        v.name,
        () => {
          expect(protonGot(`forward:${v.name}`).got).toEqual(v.expected);
        },
        `value: ${v.name}`,
      );
    }
    for (const m of messages) {
      itItem(
        m.name,
        () => {
          expect(protonGot(`forward:${m.name}`).got).toEqual(asQuarkWrites(m.expected));
        },
        `message: ${m.name}`,
      );
    }
  });

  describe('Quark → Proton: plain JavaScript values arrive with their documented AMQP types', () => {
    for (const v of idiomaticValues) {
      it(v.name, () => {
        expect(protonGot(`idiomatic:${v.name}`).got).toEqual(v.expected);
        expectQuarkRoundTrip(quarkBytes(`idiomatic:${v.name}`), v.expected);
      });
    }
    for (const m of idiomaticMessages) {
      it(`message: ${m.name}`, () => {
        const r = protonGot(`idiomatic:${m.name}`);
        expect(r.got).toEqual(m.expected);
        expectProtonMessageView(r, m.expected);
        expectQuarkMessageRoundTrip(quarkBytes(`idiomatic:${m.name}`), m.expected);
      });
    }
  });
});
