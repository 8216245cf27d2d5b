/**
 * The AMQP value model: how every AMQP 1.0 type is held in JavaScript.
 *
 * Each AMQP type decodes to exactly one JavaScript shape, and encoding that shape gives back the
 * same AMQP type, so a value received can be sent on unchanged, type included:
 *
 * | AMQP type | JavaScript |
 * |---|---|
 * | null | `null` |
 * | boolean | `boolean` |
 * | int | `number` (an integer in the int32 range) |
 * | long | `bigint` |
 * | string | `string` |
 * | binary | `Uint8Array` (a `Buffer` when decoded) |
 * | timestamp | `Date` |
 * | list | `Array` |
 * | map | `Map` (plain objects encode as maps with string keys) |
 * | ubyte, ushort, uint, byte, short, float, double | {@link Typed} holding a `number` |
 * | ulong | {@link Typed} holding a `bigint` |
 * | char, symbol, uuid | {@link Typed} holding a `string` |
 * | decimal32, decimal64, decimal128 | {@link Typed} holding the raw IEEE 754 bytes |
 * | array | {@link AmqpArray} |
 * | described | {@link Described} |
 *
 * A plain JavaScript `number` encodes as `int` when it is an integer in the int32 range, as `long`
 * when it is another safe integer, and as `double` otherwise; decoded doubles are therefore
 * {@link Typed} (`double(1)` and the int `1` must stay distinct). `Typed` has `valueOf()`, so
 * arithmetic and comparisons with `<` work on it directly.
 *
 * @packageDocumentation
 */
import { Buffer } from 'node:buffer';
import { inspect } from 'node:util';
import { EncodeError } from '../errors.js';

/** The value each {@link Typed} kind holds. */
export interface TypedValues {
  /** 8-bit unsigned integer, 0 to 255. */
  ubyte: number;
  /** 16-bit unsigned integer, 0 to 65535. */
  ushort: number;
  /** 32-bit unsigned integer, 0 to 4294967295. */
  uint: number;
  /** 8-bit signed integer, -128 to 127. */
  byte: number;
  /** 16-bit signed integer, -32768 to 32767. */
  short: number;
  /** 32-bit IEEE 754 floating point (a JavaScript number rounded to single precision on the wire). */
  float: number;
  /** 64-bit IEEE 754 floating point: a JavaScript number as it is, typed explicitly. */
  double: number;
  /** 64-bit unsigned integer. */
  ulong: bigint;
  /** One Unicode code point (UTF-32 on the wire), as a string of that one character. */
  char: string;
  /** A symbolic value from a constrained domain (ASCII), as a string. */
  symbol: string;
  /** A UUID, as its canonical lower-case string (8-4-4-4-12 hex digits). */
  uuid: string;
  /** IEEE 754 decimal32, its 4 bytes as sent (no arithmetic is done on decimals). */
  decimal32: Uint8Array;
  /** IEEE 754 decimal64, its 8 bytes as sent. */
  decimal64: Uint8Array;
  /** IEEE 754 decimal128, its 16 bytes as sent. */
  decimal128: Uint8Array;
  /** Only for timestamps outside the range of `Date` (more than 8.64e15 ms from the epoch). */
  timestamp: bigint;
}

/** The AMQP types that are held as {@link Typed}. */
export type TypedName = keyof TypedValues;

/** Every AMQP primitive type name. */
export type AmqpTypeName =
  | 'null'
  | 'boolean'
  | 'ubyte'
  | 'ushort'
  | 'uint'
  | 'ulong'
  | 'byte'
  | 'short'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'decimal32'
  | 'decimal64'
  | 'decimal128'
  | 'char'
  | 'timestamp'
  | 'uuid'
  | 'binary'
  | 'string'
  | 'symbol'
  | 'list'
  | 'map'
  | 'array';

/**
 * A value whose AMQP type has no JavaScript primitive of its own: a `ulong`, a `symbol`, a `float`...
 * Create one with the constructors ({@link ulong}, {@link symbol}, ...), which check the range.
 */
export class Typed<K extends TypedName = TypedName> {
  /** The AMQP type of the value. */
  readonly type: K;
  /** The value, in the JavaScript form listed in {@link TypedValues}. */
  readonly value: TypedValues[K];

  /** Prefer the checked constructors ({@link ulong}, {@link symbol}, ...). */
  constructor(type: K, value: TypedValues[K]) {
    this.type = type;
    this.value = value;
  }

  /** The plain value, so that `typed + 1` and `typed < 3` work. */
  valueOf(): TypedValues[K] {
    return this.value;
  }

  /** The value as text: decimals in hex, anything else as `String()` gives it. */
  toString(): string {
    const v: unknown = this.value;
    return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : String(v);
  }

  /** JSON keeps the type: `{ "type": "ulong", "value": "5" }` (64-bit values as strings). */
  toJSON(): {
    /** The AMQP type. */
    type: K;
    /** The value: a number or string as it is, anything else as `toString()` gives it. */
    value: string | number;
  } {
    const v: unknown = this.value;
    if (typeof v === 'number' || typeof v === 'string') return { type: this.type, value: v };
    return { type: this.type, value: this.toString() };
  }

  /** Shows `ulong(5n)`, `symbol('x')` in `console.log` and the REPL. */
  [inspect.custom](): string {
    return `${this.type}(${inspect(this.value)})`;
  }
}

/** A described value: a descriptor (a `ulong` or `symbol`) and the value it describes. */
export class Described {
  /** The descriptor: a {@link Typed} `ulong` or `symbol` (other types are allowed by the spec). */
  readonly descriptor: AmqpValue;
  /** The described value. */
  readonly value: AmqpValue;

  /**
   * @param descriptor - a `bigint` or `number` is taken as a `ulong` descriptor, a `string` as a
   *   `symbol` descriptor; a {@link Typed} is kept as it is.
   */
  constructor(descriptor: AmqpValue, value: AmqpValue) {
    if (typeof descriptor === 'bigint' || typeof descriptor === 'number') descriptor = ulong(descriptor);
    else if (typeof descriptor === 'string') descriptor = symbol(descriptor);
    this.descriptor = descriptor;
    this.value = value;
  }

  /** Shows `described(descriptor, value)` in `console.log` and the REPL. */
  [inspect.custom](_depth: number, options: object): string {
    return `described(${inspect(this.descriptor, options)}, ${inspect(this.value, options)})`;
  }

  /** `{ descriptor, value }`, JSON-safe. */
  toJSON(): unknown {
    return { descriptor: jsonSafe(this.descriptor), value: jsonSafe(this.value) };
  }
}

/**
 * A described value exactly as decoded: unlike the {@link Described} constructor, a plain
 * `number`, `bigint` or `string` descriptor is kept as it is (an `int`, `long` or `string`
 * descriptor), so that it re-encodes to the same bytes. For the decoder only.
 * @internal
 */
export function decodedDescribed(descriptor: AmqpValue, value: AmqpValue): Described {
  const d = Object.create(Described.prototype) as { descriptor: AmqpValue; value: AmqpValue };
  d.descriptor = descriptor;
  d.value = value;
  return d as Described;
}

/** The element types an {@link AmqpArray} can hold. */
export type ArrayElementType = Exclude<AmqpTypeName, 'null'>;

/**
 * An AMQP array: every element of one type (and, when `descriptor` is set, every element a
 * described value with that one descriptor; `elements` then holds the inner values).
 * Elements are given in their plain JavaScript form for the element type: numbers for `int` or
 * `ubyte`, bigints for `long` or `ulong`, strings for `symbol`, and so on.
 */
export class AmqpArray {
  /** The AMQP type of every element. */
  readonly type: ArrayElementType;
  /** The elements (for a described array, each element's value without its descriptor). */
  readonly elements: readonly AmqpValue[];
  /** The descriptor every element carries, or undefined for an array of plain values. */
  readonly descriptor: AmqpValue | undefined;

  constructor(type: ArrayElementType, elements: readonly AmqpValue[], descriptor?: AmqpValue) {
    this.type = type;
    this.elements = elements;
    this.descriptor = descriptor;
  }

  /** Shows `array(type, elements)` in `console.log` and the REPL. */
  [inspect.custom](_depth: number, options: object): string {
    const d = this.descriptor === undefined ? '' : `, ${inspect(this.descriptor, options)}`;
    return `array(${inspect(this.type)}, ${inspect(this.elements, options)}${d})`;
  }

  /** The elements, JSON-safe. */
  toJSON(): unknown {
    return this.elements.map(jsonSafe);
  }
}

/**
 * Where a decoded annotations section (delivery annotations, message annotations, footer) keeps the
 * entries whose key is a `ulong` (keys the spec reserves, spec 3.2.10), as a Map from bigint; the
 * symbol-keyed entries are the object's own properties. Set it to send such keys: they are written
 * before the symbol keys.
 */
export const ulongAnnotations: unique symbol = Symbol('quark.ulongAnnotations');

/** A plain object, encoded as an AMQP map with string keys (properties whose value is `undefined` are left out). */
export interface AmqpObject {
  /** Each property is a map entry (its key a string); an undefined value leaves the entry out. */
  [key: string]: AmqpValue | undefined;
  /** Annotations only: entries keyed by ulong (see {@link ulongAnnotations}). */
  [ulongAnnotations]?: Map<bigint, AmqpValue>;
}

/** Any value Quark can encode; decoding gives the subset listed in the module docs. */
export type AmqpValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Date
  | Typed
  | Described
  | AmqpArray
  | AmqpValue[]
  | Map<AmqpValue, AmqpValue>
  | AmqpObject;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const UINT64_MAX = 0xffffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;
const INT64_MAX = 0x7fffffffffffffffn;

function checkInteger(type: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new EncodeError(`${type} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function toBigInt(type: string, value: bigint | number | string, min: bigint, max: bigint): bigint {
  let v: bigint;
  // A number beyond 2^53 has already lost its low digits: refuse it rather than send a neighbour.
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new EncodeError(
      `${type} given as a number must be a safe integer (use a bigint beyond 2^53), got ${String(value)}`,
    );
  }
  try {
    v = BigInt(value);
  } catch {
    throw new EncodeError(`${type} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  if (v < min || v > max)
    throw new EncodeError(`${type} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return v;
}

/** An AMQP `ubyte` (0 to 255). */
export const ubyte = (value: number): Typed<'ubyte'> => new Typed('ubyte', checkInteger('ubyte', value, 0, 0xff));
/** An AMQP `ushort` (0 to 65535). */
export const ushort = (value: number): Typed<'ushort'> => new Typed('ushort', checkInteger('ushort', value, 0, 0xffff));
/** An AMQP `uint` (0 to 4294967295). */
export const uint = (value: number): Typed<'uint'> => new Typed('uint', checkInteger('uint', value, 0, 0xffffffff));
/** An AMQP `ulong` (0 to 2^64-1); a number must be a safe integer, a string is parsed. */
export const ulong = (value: bigint | number | string): Typed<'ulong'> =>
  new Typed('ulong', toBigInt('ulong', value, 0n, UINT64_MAX));
/** An AMQP `byte` (-128 to 127). */
export const byte = (value: number): Typed<'byte'> => new Typed('byte', checkInteger('byte', value, -0x80, 0x7f));
/** An AMQP `short` (-32768 to 32767). */
export const short = (value: number): Typed<'short'> =>
  new Typed('short', checkInteger('short', value, -0x8000, 0x7fff));
/** An AMQP `int`: checks the range and returns the plain number, which encodes as `int`. */
export const int = (value: number): number => checkInteger('int', value, INT32_MIN, INT32_MAX);
/** An AMQP `long`: checks the range and returns a bigint, which encodes as `long`. */
export const long = (value: bigint | number | string): bigint => toBigInt('long', value, INT64_MIN, INT64_MAX);
/** An AMQP `float` (IEEE 754 binary32; the value is rounded to single precision). */
export const float = (value: number): Typed<'float'> => {
  if (typeof value !== 'number') throw new EncodeError(`float must be a number, got ${typeof value}`);
  return new Typed('float', Math.fround(value));
};
/** An AMQP `double` (IEEE 754 binary64). */
export const double = (value: number): Typed<'double'> => {
  if (typeof value !== 'number') throw new EncodeError(`double must be a number, got ${typeof value}`);
  return new Typed('double', value);
};
/** An AMQP `char`: one Unicode code point, given as a one-character string or a code point number. */
export const char = (value: string | number): Typed<'char'> => {
  const s = typeof value === 'number' ? String.fromCodePoint(checkInteger('char', value, 0, 0x10ffff)) : value;
  const cp = typeof s === 'string' ? s.codePointAt(0) : undefined;
  if (cp === undefined || String.fromCodePoint(cp) !== s) {
    throw new EncodeError(`char must be exactly one Unicode code point, got ${JSON.stringify(value)}`);
  }
  return new Typed('char', s);
};
/** An AMQP `symbol`: ASCII text, used for names and keys defined by a protocol. */
export const symbol = (value: string): Typed<'symbol'> => {
  if (typeof value !== 'string') throw new EncodeError(`symbol must be a string, got ${typeof value}`);
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(value)) throw new EncodeError(`symbol must be ASCII, got ${JSON.stringify(value)}`);
  return new Typed('symbol', value);
};

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An AMQP `uuid`, from its canonical text form or its 16 bytes. Held in lower-case text form. */
export const uuid = (value: string | Uint8Array): Typed<'uuid'> => {
  if (value instanceof Uint8Array) {
    if (value.length !== 16) throw new EncodeError(`uuid must be 16 bytes, got ${value.length}`);
    return new Typed('uuid', formatUuid(value, 0));
  }
  const text = typeof value === 'string' ? value.toLowerCase() : '';
  if (!UUID_PATTERN.test(text))
    throw new EncodeError(`uuid must look like 6ba7b810-9dad-11d1-80b4-00c04fd430c8, got ${JSON.stringify(value)}`);
  return new Typed('uuid', text);
};

function decimal<K extends 'decimal32' | 'decimal64' | 'decimal128'>(
  type: K,
  width: number,
  bytes: Uint8Array,
): Typed<K> {
  if (!(bytes instanceof Uint8Array) || bytes.length !== width) {
    throw new EncodeError(`${type} must be given as its ${width} IEEE 754 bytes (big-endian)`);
  }
  return new Typed(type, bytes as TypedValues[K]);
}
/** An AMQP `decimal32`, given as its 4 IEEE 754-2008 bytes (network order). */
export const decimal32 = (bytes: Uint8Array): Typed<'decimal32'> => decimal('decimal32', 4, bytes);
/** An AMQP `decimal64`, given as its 8 IEEE 754-2008 bytes (network order). */
export const decimal64 = (bytes: Uint8Array): Typed<'decimal64'> => decimal('decimal64', 8, bytes);
/** An AMQP `decimal128`, given as its 16 IEEE 754-2008 bytes (network order). */
export const decimal128 = (bytes: Uint8Array): Typed<'decimal128'> => decimal('decimal128', 16, bytes);

/** An AMQP `timestamp` (milliseconds since the Unix epoch), as a `Date`. */
export const timestamp = (value: Date | number): Date => {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new EncodeError(`timestamp must be a valid Date or a number of milliseconds, got ${String(value)}`);
  return d;
};

/** An AMQP `array` of one element type, e.g. `array('int', [1, 2, 3])` or `array('symbol', ['a', 'b'])`. */
export const array = (type: ArrayElementType, elements: readonly AmqpValue[], descriptor?: AmqpValue): AmqpArray =>
  new AmqpArray(type, elements, descriptor);

/** A described value, e.g. `described(symbol('apache.org:selector-filter:string'), "colour = 'red'")`. */
export const described = (descriptor: AmqpValue, value: AmqpValue): Described => new Described(descriptor, value);

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Formats 16 bytes at `offset` as a canonical uuid string. */
export function formatUuid(b: Uint8Array, offset: number): string {
  const h = (i: number): string => HEX[b[offset + i]!]!;
  return (
    h(0) +
    h(1) +
    h(2) +
    h(3) +
    '-' +
    h(4) +
    h(5) +
    '-' +
    h(6) +
    h(7) +
    '-' +
    h(8) +
    h(9) +
    '-' +
    h(10) +
    h(11) +
    h(12) +
    h(13) +
    h(14) +
    h(15)
  );
}

/**
 * The AMQP type a value encodes as: its exact type for decoded values and {@link Typed}, and the
 * default for plain JavaScript values (e.g. `'int'` for `1`, `'double'` for `1.5`, `'map'` for a
 * plain object). Throws {@link EncodeError} for a value with no AMQP form.
 */
export function typeOf(value: AmqpValue | undefined): AmqpTypeName | 'described' {
  switch (typeof value) {
    case 'undefined':
      return 'null';
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    case 'bigint':
      return value >= INT64_MIN && value <= INT64_MAX ? 'long' : 'ulong';
    case 'number':
      if (Number.isInteger(value) && !Object.is(value, -0)) {
        if (value >= INT32_MIN && value <= INT32_MAX) return 'int';
        if (Number.isSafeInteger(value)) return 'long';
      }
      return 'double';
    case 'object':
      if (value === null) return 'null';
      if (value instanceof Typed) return value.type === 'timestamp' ? 'timestamp' : value.type;
      if (value instanceof Uint8Array) return 'binary';
      if (value instanceof Date) return 'timestamp';
      if (Array.isArray(value)) return 'list';
      if (value instanceof Map) return 'map';
      if (value instanceof Described) return 'described';
      if (value instanceof AmqpArray) return 'array';
      if (isPlainObject(value)) return 'map';
      break;
  }
  throw new EncodeError(
    `a ${describeJsValue(value)} has no AMQP encoding; use a plain value or a typed constructor such as ulong() or symbol()`,
  );
}

/** True for `{}` literals and null-prototype objects, which encode as maps. */
export function isPlainObject(value: object): value is AmqpObject {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Names a JavaScript value's kind for error messages. */
export function describeJsValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const ctor = (value as { constructor?: { name?: string } }).constructor;
  return ctor?.name ? `${ctor.name} object` : 'object';
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A value as JSON can hold it, so that `JSON.stringify` of anything received never throws and
 * never loses data to `{}`: a bigint becomes a number when safe, else a string of its digits; a
 * `Map` an object (or, when a key is not a string, an array of `[key, value]` pairs); typed,
 * described and array values their JSON forms; bytes a `Buffer`'s JSON (`{ type: 'Buffer', data }`).
 */
export function jsonSafe(value: AmqpValue | undefined): unknown {
  switch (typeof value) {
    case 'bigint':
      return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value.toString();
    case 'object': {
      if (value === null || value instanceof Date) return value;
      if (Array.isArray(value)) return value.map(jsonSafe);
      if (value instanceof Uint8Array) {
        if (value.length <= 16 && !Buffer.isBuffer(value))
          return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
        return (
          Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
        ).toJSON();
      }
      if (value instanceof Typed || value instanceof Described || value instanceof AmqpArray) return value.toJSON();
      if (value instanceof Map) {
        const keys = [...value.keys()];
        if (keys.every((k) => typeof k === 'string' || (k instanceof Typed && k.type === 'symbol'))) {
          const out: Record<string, unknown> = {};
          for (const [k, v] of value)
            Object.defineProperty(out, typeof k === 'string' ? k : String((k as Typed).value), {
              value: jsonSafe(v),
              enumerable: true,
              writable: true,
              configurable: true,
            });
          return out;
        }
        return [...value].map(([k, v]) => [jsonSafe(k), jsonSafe(v)]);
      }
      const out: Record<string, unknown> = {};
      // Annotation entries keyed by ulong (kept apart, under a symbol) are written with their number as the key.
      const reserved = (value as AmqpObject)[ulongAnnotations];
      if (reserved)
        for (const [k, v] of reserved)
          Object.defineProperty(out, String(k), {
            value: jsonSafe(v),
            enumerable: true,
            writable: true,
            configurable: true,
          });
      for (const [k, v] of Object.entries(value))
        Object.defineProperty(out, k, { value: jsonSafe(v), enumerable: true, writable: true, configurable: true });
      return out;
    }
    default:
      return value;
  }
}

/**
 * Gives a decoded section (a body, properties, annotations) a `toJSON` of its own (not
 * enumerable), for the values plain JSON cannot hold (bigints, `Map`s) anywhere inside it.
 */
export function withJsonView<T>(section: T): T {
  // A section whose data has a `toJSON` key of its own keeps it (the data wins).
  if (
    typeof section === 'object' &&
    section !== null &&
    !(section instanceof Uint8Array) &&
    !(section instanceof Date) &&
    !Object.hasOwn(section, 'toJSON')
  ) {
    Object.defineProperty(section, 'toJSON', {
      value: sectionToJson,
      enumerable: false,
      writable: true,
      configurable: true,
    });
  }
  return section;
}

function sectionToJson(this: AmqpValue): unknown {
  // The section without this method, then made JSON-safe.
  if (Array.isArray(this)) return this.map(jsonSafe);
  if (this instanceof Map) return jsonSafe(new Map(this));
  const copy: AmqpObject = { ...(this as AmqpObject) };
  const reserved = (this as AmqpObject)[ulongAnnotations];
  if (reserved) copy[ulongAnnotations] = reserved;
  return jsonSafe(copy);
}
