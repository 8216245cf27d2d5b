/**
 * Decodes AMQP values (spec, types section 1). Accepts every encoding the spec lists. Input from a
 * network is hostile until proven otherwise, so every declared size and count is checked against
 * the bytes actually present before anything is allocated, compound values cannot read past their
 * declared size, and nesting is bounded. Every failure is a {@link DecodeError}.
 *
 * Binary values are returned as views into the input (no copy): the input must not be reused.
 */
import { Buffer } from 'node:buffer';
import { DecodeError } from '../errors.js';
import type { CompositeSpec, FieldSpec } from './spec-tables.js';
import { compositeSpecs, describedSectionSpecs } from './spec-tables.js';
import {
  AmqpArray,
  Described,
  Typed,
  decodedDescribed,
  formatUuid,
  ulongAnnotations,
  type AmqpObject,
  type AmqpValue,
  type ArrayElementType,
} from './values.js';
import type { Composite, Fields } from './composite-types.js';

/** How deep lists, maps, arrays and described values may nest in decoded input. */
export const MAX_DECODE_DEPTH = 64;
/**
 * How many zero-width array elements (e.g. all `null` or `uint0`) one input may declare in all:
 * they cost no input bytes, so without a shared budget arrays of such arrays would turn a few
 * bytes into millions of values.
 */
export const MAX_ZERO_WIDTH_ELEMENTS = 65536;
const MAX_DATE_MS = 8.64e15;

/** The big-endian unsigned 32-bit integer at `p` (the caller checked that four bytes are there). */
export function uint32At(bytes: Uint8Array, p: number): number {
  return ((bytes[p]! << 24) >>> 0) + ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
}

/** A cursor over input bytes, bounded by `end`. */
export class ByteReader {
  buf: Buffer;
  #view: DataView | undefined;
  /** `buf.buffer`, read on first use (see `bytes`). */
  #arrayBuffer: ArrayBufferLike | undefined;
  pos: number;
  end: number;
  depth = 0;
  /** Zero-width array elements still allowed (see {@link MAX_ZERO_WIDTH_ELEMENTS}). */
  zeroWidthBudget = MAX_ZERO_WIDTH_ELEMENTS;
  /** Values are read in their native JavaScript forms (see {@link readNativeWithCode}) rather than exactly. */
  native = false;
  /** Native reading produced a value plain JSON cannot hold (a bigint, a `Map`) since this was last cleared. */
  jsonUnsafe = false;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  /** A DataView of `buf`, made on first use: most inputs (performatives, binary bodies) never need one. */
  get view(): DataView {
    return (this.#view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  /**
   * A Buffer viewing bytes `start` to `end` of `buf` (no copy), made from `buf`'s ArrayBuffer,
   * looked up once per reader (and kept by `reset` while `buf` stays the same): `buf.subarray`
   * looks it up for each view, through a getter V8 calls in C++, and a receiver makes a view per
   * message (its binary body).
   */
  bytes(start: number, end: number): Buffer {
    const arrayBuffer = (this.#arrayBuffer ??= this.buf.buffer);
    return Buffer.from(arrayBuffer, this.buf.byteOffset + start, end - start);
  }

  /**
   * Starts reading `bytes` between `start` and `end`, as a new reader would (one reader can serve
   * many inputs; the ArrayBuffer looked up for views is kept while `bytes` stays the same).
   */
  reset(bytes: Buffer, start: number, end: number): this {
    if (bytes !== this.buf) {
      this.buf = bytes;
      this.#view = undefined;
      this.#arrayBuffer = undefined;
    }
    this.native = false;
    this.jsonUnsafe = false;
    return this.rewind(start, end);
  }

  /** Starts reading a new input between `start` and `end` of the same bytes (one reader serves every frame of a chunk). */
  rewind(start: number, end: number): this {
    this.pos = start;
    this.end = end;
    this.depth = 0;
    this.zeroWidthBudget = MAX_ZERO_WIDTH_ELEMENTS;
    return this;
  }

  /** Throws unless `n` more bytes are present. */
  need(n: number): void {
    if (this.pos + n > this.end) {
      throw new DecodeError(`truncated input: ${n} bytes needed, ${this.end - this.pos} present`, this.pos);
    }
  }

  u8(): number {
    if (this.pos >= this.end) throw new DecodeError('truncated input: 1 byte needed, 0 present', this.pos);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  u32(): number {
    this.need(4);
    const p = this.pos;
    this.pos = p + 4;
    return uint32At(this.buf, p);
  }

  i8(): number {
    this.need(1);
    return this.view.getInt8(this.pos++);
  }

  i16(): number {
    this.need(2);
    const v = this.view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }

  get remaining(): number {
    return this.end - this.pos;
  }
}

const TYPE_OF_CODE: Record<number, ArrayElementType | 'null'> = {
  0x40: 'null',
  0x41: 'boolean',
  0x42: 'boolean',
  0x56: 'boolean',
  0x50: 'ubyte',
  0x60: 'ushort',
  0x70: 'uint',
  0x52: 'uint',
  0x43: 'uint',
  0x80: 'ulong',
  0x53: 'ulong',
  0x44: 'ulong',
  0x51: 'byte',
  0x61: 'short',
  0x71: 'int',
  0x54: 'int',
  0x81: 'long',
  0x55: 'long',
  0x72: 'float',
  0x82: 'double',
  0x74: 'decimal32',
  0x84: 'decimal64',
  0x94: 'decimal128',
  0x73: 'char',
  0x83: 'timestamp',
  0x98: 'uuid',
  0xa0: 'binary',
  0xb0: 'binary',
  0xa1: 'string',
  0xb1: 'string',
  0xa3: 'symbol',
  0xb3: 'symbol',
  0x45: 'list',
  0xc0: 'list',
  0xd0: 'list',
  0xc1: 'map',
  0xd1: 'map',
  0xe0: 'array',
  0xf0: 'array',
};

/** The fewest bytes one element takes after its constructor (0 for the zero-width encodings). */
function minElementWidth(code: number): number {
  if (code === 0x40 || code === 0x41 || code === 0x42 || code === 0x43 || code === 0x44 || code === 0x45) return 0;
  switch (code >> 4) {
    case 0x5:
      return 1;
    case 0x6:
      return 2;
    case 0x7:
      return 4;
    case 0x8:
      return 8;
    case 0x9:
      return 16;
    case 0xa:
    case 0xc:
    case 0xe:
      return 1;
    default:
      return 4;
  }
}

/** Reads one value with its constructor: exactly, or in native form when the reader says so. */
export function readValue(r: ByteReader): AmqpValue {
  return r.native ? readNativeWithCode(r, r.u8()) : readWithCode(r, r.u8(), true);
}

/** A long or ulong as a number when it is a safe integer, else as the bigint. */
function nativeInteger(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/**
 * Reads a value's bytes after its format code in native form, as a JavaScript program would hold
 * it: every number type as a `number` (long and ulong too, when safe; else a `bigint`), symbol,
 * char and uuid as `string`, a map with string (or symbol) keys as a plain object and any other
 * map as a `Map`, arrays as `Array`. Timestamps are `Date`s, binary `Buffer`s; decimals and
 * described values keep their classes (JavaScript has no form for them).
 */
function readNativeWithCode(r: ByteReader, code: number): AmqpValue {
  switch (code) {
    case 0x43:
    case 0x44:
      return 0;
    case 0x50:
    case 0x52:
    case 0x53:
      return r.u8();
    case 0x51:
    case 0x54:
    case 0x55:
      return r.i8();
    case 0x60:
      return r.u16();
    case 0x61:
      return r.i16();
    case 0x70:
      return r.u32();
    case 0x72:
      return r.f32();
    case 0x80: {
      const v = nativeInteger(r.u64());
      if (typeof v === 'bigint') r.jsonUnsafe = true;
      return v;
    }
    case 0x81: {
      const v = nativeInteger(r.i64());
      if (typeof v === 'bigint') r.jsonUnsafe = true;
      return v;
    }
    case 0x82:
      return r.f64();
    case 0x73:
    case 0x98:
    case 0xa3:
    case 0xb3:
      return readWithCode(r, code, false);
    case 0xc0:
      return readList(r, false);
    case 0xd0:
      return readList(r, true);
    case 0xc1:
      return readNativeMap(r, false);
    case 0xd1:
      return readNativeMap(r, true);
    case 0xe0:
      return readNativeArray(r, false);
    case 0xf0:
      return readNativeArray(r, true);
    case 0x00: {
      // The descriptor keeps its AMQP type (a symbol or ulong names the type); the value is native.
      enter(r);
      const descriptor = readWithCode(r, r.u8(), true);
      const value = readValue(r);
      r.depth--;
      return decodedDescribed(descriptor, value);
    }
  }
  return readWithCode(r, code, true);
}

/** A map in native form: a plain object while every key is a string, a `Map` (with native keys) once one is not. */
function readNativeMap(r: ByteReader, wide: boolean): AmqpObject | Map<AmqpValue, AmqpValue> {
  const at = r.pos - 1;
  const outerEnd = r.end;
  const count = enterCompound(r, wide, 1, 'map');
  if (count % 2 !== 0) throw new DecodeError(`map has an odd number of elements (${count})`, at);
  const first = r.pos;
  const obj: AmqpObject = {};
  for (let i = 0; i < count; i += 2) {
    const code = r.u8();
    // Only string and symbol keys make an object: a uuid, char or number key makes a Map.
    if (code !== 0xa1 && code !== 0xb1 && code !== 0xa3 && code !== 0xb3) {
      // Read the map again, into a Map: its entries keep their order (an object's would not).
      r.pos = first;
      r.jsonUnsafe = true;
      const map = readMapEntries(r, count);
      leaveCompound(r, outerEnd, 'map');
      return map;
    }
    const key = readNativeWithCode(r, code) as string;
    setOwn(obj, key, readValue(r));
  }
  leaveCompound(r, outerEnd, 'map');
  return obj;
}

/** An array in native form: a plain `Array` of native elements (an array of described values stays an {@link AmqpArray}). */
function readNativeArray(r: ByteReader, wide: boolean): AmqpValue {
  const exact = readArray(r, wide);
  if (exact.descriptor !== undefined) return exact;
  const elements = exact.elements as AmqpValue[];
  switch (exact.type) {
    case 'string':
    case 'symbol':
    case 'boolean':
    case 'int':
    case 'uint':
    case 'ushort':
    case 'ubyte':
    case 'short':
    case 'byte':
    case 'float':
    case 'double':
    case 'char':
    case 'uuid':
    case 'binary':
    case 'list':
      break;
    default:
      r.jsonUnsafe = true; // may hold bigints or Maps: the section gets a JSON view
  }
  for (let i = 0; i < elements.length; i++) elements[i] = nativeElement(exact.type, elements[i]!);
  return elements;
}

/** An array element (read in its plain exact form for the array's type) in native form. */
function nativeElement(type: ArrayElementType, e: AmqpValue): AmqpValue {
  switch (type) {
    case 'long':
    case 'ulong':
      return nativeInteger(e as bigint);
    case 'timestamp':
      return typeof e === 'bigint' ? new Typed('timestamp', e) : e; // a Date, unless beyond Date's range
    case 'decimal32':
    case 'decimal64':
    case 'decimal128':
      return new Typed(type, e as Uint8Array);
    case 'array':
    case 'map':
      return nativeOf(e);
    default:
      return e;
  }
}

/** The native form of a value decoded exactly (for array elements, which are read exactly). */
function nativeOf(value: AmqpValue): AmqpValue {
  if (value instanceof AmqpArray) {
    if (value.descriptor !== undefined) return value;
    return value.elements.map((e) => nativeElement(value.type, e));
  }
  if (value instanceof Map) {
    const obj: AmqpObject = {};
    let allStrings = true;
    for (const k of value.keys())
      if (!(typeof k === 'string' || (k instanceof Typed && k.type === 'symbol'))) allStrings = false;
    // Read exactly (inside an array), so its values may still be exact: a Map stays JSON-unsafe.
    const entries = [...value].map(
      ([k, v]) => [k instanceof Typed && typeof k.value !== 'object' ? nativeScalar(k) : k, nativeOf(v)] as const,
    );
    if (!allStrings) return new Map<AmqpValue, AmqpValue>(entries);
    for (const [k, v] of entries) setOwn(obj, k as string, v);
    return obj;
  }
  if (value instanceof Typed) return nativeScalar(value);
  if (typeof value === 'bigint') return nativeInteger(value);
  if (Array.isArray(value)) return value.map(nativeOf);
  return value;
}

function nativeScalar(value: Typed): AmqpValue {
  switch (value.type) {
    case 'ulong':
      return nativeInteger(value.value as bigint);
    case 'decimal32':
    case 'decimal64':
    case 'decimal128':
    case 'timestamp':
      return value;
    default:
      return value.value as AmqpValue;
  }
}

function codeError(r: ByteReader, code: number, what = 'value'): DecodeError {
  return new DecodeError(`invalid format code 0x${code.toString(16).padStart(2, '0')} for a ${what}`, r.pos - 1);
}

/**
 * Reads a value's bytes after its format code. With `wrap` false (array elements), the types held
 * as {@link Typed} are returned in their plain form instead.
 */
function readWithCode(r: ByteReader, code: number, wrap: boolean): AmqpValue {
  const b = r.buf;
  switch (code) {
    case 0x40:
      return null;
    case 0x41:
      return true;
    case 0x42:
      return false;
    case 0x56:
      return r.u8() !== 0;
    case 0x43:
      return wrap ? new Typed('uint', 0) : 0;
    case 0x44:
      return wrap ? new Typed('ulong', 0n) : 0n;
    case 0x45:
      return [];
    case 0x50: {
      const v = r.u8();
      return wrap ? new Typed('ubyte', v) : v;
    }
    case 0x51: {
      const v = r.i8();
      return wrap ? new Typed('byte', v) : v;
    }
    case 0x52: {
      const v = r.u8();
      return wrap ? new Typed('uint', v) : v;
    }
    case 0x53: {
      const v = BigInt(r.u8());
      return wrap ? new Typed('ulong', v) : v;
    }
    case 0x54:
      return r.i8();
    case 0x55:
      return BigInt(r.i8());
    case 0x60: {
      const v = r.u16();
      return wrap ? new Typed('ushort', v) : v;
    }
    case 0x61: {
      const v = r.i16();
      return wrap ? new Typed('short', v) : v;
    }
    case 0x70: {
      const v = r.u32();
      return wrap ? new Typed('uint', v) : v;
    }
    case 0x71:
      return r.i32();
    case 0x72: {
      const v = r.f32();
      return wrap ? new Typed('float', v) : v;
    }
    case 0x73: {
      r.need(4);
      const cp = r.view.getUint32(r.pos);
      if (cp > 0x10ffff) throw new DecodeError(`char code point 0x${cp.toString(16)} is beyond Unicode`, r.pos);
      r.pos += 4;
      const s = String.fromCodePoint(cp);
      return wrap ? new Typed('char', s) : s;
    }
    case 0x74:
      return readDecimal(r, 'decimal32', 4, wrap);
    case 0x80: {
      const v = r.u64();
      return wrap ? new Typed('ulong', v) : v;
    }
    case 0x81:
      return r.i64();
    case 0x82: {
      const v = r.f64();
      return wrap ? new Typed('double', v) : v;
    }
    case 0x83:
      return readTimestamp(r, wrap);
    case 0x84:
      return readDecimal(r, 'decimal64', 8, wrap);
    case 0x94:
      return readDecimal(r, 'decimal128', 16, wrap);
    case 0x98: {
      r.need(16);
      const s = formatUuid(b, r.pos);
      r.pos += 16;
      return wrap ? new Typed('uuid', s) : s;
    }
    case 0xa0:
      return readBinary(r, r.u8());
    case 0xb0:
      return readBinary(r, r.u32());
    case 0xa1:
      return readUtf8(r, r.u8());
    case 0xb1:
      return readUtf8(r, r.u32());
    case 0xa3: {
      const s = readAscii(r, r.u8());
      return wrap ? new Typed('symbol', s) : s;
    }
    case 0xb3: {
      const s = readAscii(r, r.u32());
      return wrap ? new Typed('symbol', s) : s;
    }
    case 0xc0:
      return readList(r, false);
    case 0xd0:
      return readList(r, true);
    case 0xc1:
      return readMap(r, false);
    case 0xd1:
      return readMap(r, true);
    case 0xe0:
      return readArray(r, false);
    case 0xf0:
      return readArray(r, true);
    case 0x00: {
      if (!wrap) throw codeError(r, code, 'array element');
      enter(r);
      const descriptor = readValue(r);
      const value = readValue(r);
      r.depth--;
      return decodedDescribed(descriptor, value);
    }
  }
  throw codeError(r, code);
}

function enter(r: ByteReader): void {
  if (++r.depth > MAX_DECODE_DEPTH) throw new DecodeError(`values nest more than ${MAX_DECODE_DEPTH} deep`, r.pos);
}

function readDecimal(
  r: ByteReader,
  type: 'decimal32' | 'decimal64' | 'decimal128',
  width: number,
  wrap: boolean,
): AmqpValue {
  r.need(width);
  const bytes = Uint8Array.prototype.slice.call(r.buf, r.pos, r.pos + width);
  r.pos += width;
  return wrap ? new Typed(type, bytes) : bytes;
}

function readTimestamp(r: ByteReader, wrap: boolean): AmqpValue {
  r.need(8);
  const high = r.view.getInt32(r.pos);
  const low = r.view.getUint32(r.pos + 4);
  const ms = high * 0x100000000 + low;
  if (ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS) {
    r.pos += 8;
    return new Date(ms);
  }
  const v = r.view.getBigInt64(r.pos);
  r.pos += 8;
  return wrap ? new Typed('timestamp', v) : v;
}

/** The next `n` bytes, as a view (not a copy). */
export function readBinary(r: ByteReader, n: number): Buffer {
  r.need(n);
  const v = r.bytes(r.pos, r.pos + n);
  r.pos += n;
  return v;
}

function readUtf8(r: ByteReader, n: number): string {
  r.need(n);
  const start = r.pos;
  r.pos += n;
  return r.buf.toString('utf8', start, start + n);
}

/** Reads a symbol: ASCII, through the recurring-string table. */
function readAscii(r: ByteReader, n: number): string {
  return readKey(r, n, true);
}

/** Symbols are ASCII (spec, types section 1.6.21); anything else could not be sent on unchanged. */
function checkAscii(b: Buffer, start: number, end: number): void {
  for (let i = start; i < end; i++) {
    if (b[i]! > 0x7f) throw new DecodeError(`a symbol holds the non-ASCII byte 0x${b[i]!.toString(16)}`, i);
  }
}

/** Reads a map key: like {@link readUtf8} or {@link readAscii}, through the recurring-string table. */
function readKey(r: ByteReader, n: number, latin1: boolean): string {
  r.need(n);
  const start = r.pos;
  r.pos += n;
  if (n <= SHORT_STRING_MAX) {
    const s = recurringAscii(r.buf, start, start + n);
    if (s !== undefined) return s;
  }
  if (latin1) checkAscii(r.buf, start, start + n);
  return r.buf.toString(latin1 ? 'latin1' : 'utf8', start, start + n);
}

// ---- Recurring short strings ----
//
// Map keys (application property names, annotation keys) and symbols (content types, descriptor
// names, capabilities) recur from message to message. Decoding them natively costs a call into
// C++ and a fresh string, which V8 must then internalize to use as a property key. A small table
// from bytes to string makes a repeat cost a hash and a byte comparison and hands back a string V8
// has already seen as a key. Only ASCII is kept (where UTF-8 and Latin-1 decoding agree), and only
// up to SHORT_STRING_MAX bytes; a collision just replaces the entry. Message ids, bodies and other
// values that rarely repeat do not go through the table.

const SHORT_STRING_MAX = 32;
const RECURRING_SLOTS = 4096; // a power of two
const recurringBytes = new Uint8Array(RECURRING_SLOTS * SHORT_STRING_MAX);
const recurringLength = new Uint8Array(RECURRING_SLOTS); // 0: empty slot
const recurringString: string[] = new Array<string>(RECURRING_SLOTS).fill('');

/** The string for ASCII bytes `b[start..end)` (at most SHORT_STRING_MAX), or undefined if not ASCII. */
function recurringAscii(b: Buffer, start: number, end: number): string | undefined {
  const n = end - start;
  if (n === 0) return '';
  let h = 0x811c9dc5 ^ n;
  let bits = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    bits |= c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (bits >= 0x80) return undefined;
  const slot = (h ^ (h >>> 16)) & (RECURRING_SLOTS - 1);
  const base = slot * SHORT_STRING_MAX;
  if (recurringLength[slot] === n) {
    let i = 0;
    while (i < n && recurringBytes[base + i] === b[start + i]) i++;
    if (i === n) return recurringString[slot];
  }
  const s = b.toString('latin1', start, end);
  recurringBytes.set(b.subarray(start, end), base);
  recurringLength[slot] = n;
  recurringString[slot] = s;
  return s;
}

/**
 * Reads the size and count of a compound value and narrows the reader to its bytes.
 * Returns the outer end to restore with {@link leaveCompound}.
 */
/** Enters a list, map or array body: returns its element count and narrows `r.end` to the body (save `r.end` first). */
function enterCompound(r: ByteReader, wide: boolean, minWidth: number, what: string): number {
  const at = r.pos - 1;
  const size = wide ? r.u32() : r.u8();
  r.need(size);
  const countWidth = wide ? 4 : 1;
  if (size < countWidth) throw new DecodeError(`${what} size ${size} is too small to hold its count`, at);
  const count = wide ? r.u32() : r.u8();
  const body = size - countWidth;
  // Arrays (minWidth 0) check their count once their element constructor is known.
  if (minWidth > 0 && count * minWidth > body) {
    throw new DecodeError(`${what} declares ${count} elements but has only ${body} bytes`, at);
  }
  enter(r);
  r.end = r.pos + body;
  return count;
}

function leaveCompound(r: ByteReader, outerEnd: number, what: string): void {
  if (r.pos !== r.end) throw new DecodeError(`${what} has ${r.end - r.pos} bytes past its last element`, r.pos);
  r.end = outerEnd;
  r.depth--;
}

function readList(r: ByteReader, wide: boolean): AmqpValue[] {
  const outerEnd = r.end;
  const count = enterCompound(r, wide, 1, 'list');
  const items = new Array<AmqpValue>(count);
  for (let i = 0; i < count; i++) items[i] = readValue(r);
  leaveCompound(r, outerEnd, 'list');
  return items;
}

function readMap(r: ByteReader, wide: boolean): Map<AmqpValue, AmqpValue> {
  const at = r.pos - 1;
  const outerEnd = r.end;
  const count = enterCompound(r, wide, 1, 'map');
  if (count % 2 !== 0) throw new DecodeError(`map has an odd number of elements (${count})`, at);
  const map = readMapEntries(r, count);
  leaveCompound(r, outerEnd, 'map');
  return map;
}

/** Reads `count` map elements (keys and values) into a Map, in order. */
function readMapEntries(r: ByteReader, count: number): Map<AmqpValue, AmqpValue> {
  const map = new Map<AmqpValue, AmqpValue>();
  for (let i = 0; i < count; i += 2) {
    const key = readValue(r);
    map.set(key, readValue(r));
  }
  return map;
}

function readArray(r: ByteReader, wide: boolean): AmqpArray {
  const at = r.pos - 1;
  const outerEnd = r.end;
  const count = enterCompound(r, wide, 0, 'array');
  let code = r.u8();
  let descriptor: AmqpValue | undefined;
  if (code === 0x00) {
    descriptor = readValue(r);
    code = r.u8();
  }
  const type = TYPE_OF_CODE[code];
  if (type === undefined) throw codeError(r, code, 'array element constructor');
  const width = minElementWidth(code);
  if (width > 0) {
    if (count * width > r.remaining)
      throw new DecodeError(`array declares ${count} elements but has only ${r.remaining} bytes`, at);
  } else {
    r.zeroWidthBudget -= count;
    if (r.zeroWidthBudget < 0)
      throw new DecodeError(`arrays declare more than ${MAX_ZERO_WIDTH_ELEMENTS} zero-width elements in all`, at);
  }
  const elements = new Array<AmqpValue>(count);
  for (let i = 0; i < count; i++) elements[i] = readWithCode(r, code, false);
  leaveCompound(r, outerEnd, 'array');
  return new AmqpArray(type as ArrayElementType, elements, descriptor);
}

// ---- Composite types, driven by the spec tables ----

interface CompositeEntry {
  readonly kind: string;
  readonly spec: CompositeSpec;
  /** The fields a decoded value must have (most composites have none: nothing to check). */
  readonly mandatory: readonly FieldSpec[];
}

const compositeByCode = new Map<number, CompositeEntry>();
const compositeByDescriptorName = new Map<string, CompositeEntry>();
for (const [kind, spec] of Object.entries(compositeSpecs) as [string, CompositeSpec][]) {
  const entry = { kind, spec, mandatory: spec.fields.filter((f) => f.mandatory) };
  compositeByCode.set(spec.code, entry);
  compositeByDescriptorName.set(spec.descriptorName, entry);
}

/** A descriptor that is neither a ulong nor a symbol: never taken for a spec code or name. */
class OtherDescriptor {
  constructor(readonly value: AmqpValue) {}
  toString(): string {
    return String(this.value);
  }
}

/**
 * Reads a descriptor and returns its numeric code (domain 0) or its symbolic name. A numeric
 * descriptor outside domain 0 is returned as a bigint, never confused with a spec code, and one
 * of another type (an int 0x10, a string 'amqp:open:list') as an {@link OtherDescriptor}.
 */
export function readDescriptor(r: ByteReader): number | string | bigint | OtherDescriptor {
  const code = r.u8();
  switch (code) {
    case 0x53:
      return r.u8();
    case 0x44:
      return 0;
    case 0x80: {
      const v = r.u64();
      return v <= 0xffffffffn ? Number(v) : v;
    }
    case 0xa3:
      return readAscii(r, r.u8());
    case 0xb3:
      return readAscii(r, r.u32());
  }
  enter(r);
  const v = readWithCode(r, code, true);
  r.depth--;
  return new OtherDescriptor(v);
}

function lookupComposite(descriptor: unknown): CompositeEntry | undefined {
  if (typeof descriptor === 'number') return compositeByCode.get(descriptor);
  if (typeof descriptor === 'string') return compositeByDescriptorName.get(descriptor);
  return undefined;
}

/** Turns a descriptor read by {@link readDescriptor} back into the value it was. */
function descriptorValue(descriptor: unknown): AmqpValue {
  if (typeof descriptor === 'number') return new Typed('ulong', BigInt(descriptor));
  if (typeof descriptor === 'bigint') return new Typed('ulong', descriptor);
  if (typeof descriptor === 'string') return new Typed('symbol', descriptor);
  return (descriptor as OtherDescriptor).value;
}

/**
 * Reads a described value whose constructor byte (0x00) has already been consumed: a composite
 * of the spec becomes an object with `kind`; anything else a {@link Described}.
 */
function readDescribedAfterCode(r: ByteReader): unknown {
  enter(r);
  const descriptor = readDescriptor(r);
  const entry = lookupComposite(descriptor);
  const value = entry ? readCompositeList(r, entry) : decodedDescribed(descriptorValue(descriptor), readValue(r));
  r.depth--;
  return value;
}

/**
 * Reads a composite value of the spec (performative, SASL frame, delivery state, terminus, ...).
 * Throws {@link DecodeError} for anything else.
 */
export function readComposite(r: ByteReader): Composite {
  const at = r.pos;
  const code = r.u8();
  if (code !== 0x00)
    throw new DecodeError(`expected a described composite, got format code 0x${code.toString(16)}`, at);
  enter(r);
  const descriptor = readDescriptor(r);
  const entry = lookupComposite(descriptor);
  if (!entry) throw new DecodeError(`unknown descriptor ${String(descriptor)}`, at + 1);
  const value = readCompositeList(r, entry);
  r.depth--;
  return value;
}

function readCompositeList(
  r: ByteReader,
  entry: CompositeEntry,
  obj: Record<string, unknown> = { kind: entry.kind },
): Composite {
  const { spec } = entry;
  const at = r.pos;
  const code = r.u8();
  let count = 0;
  let outerEnd = -1;
  if (code === 0xc0 || code === 0xd0) {
    outerEnd = r.end;
    count = enterCompound(r, code === 0xd0, 1, spec.name);
  } else if (code !== 0x45) {
    throw new DecodeError(`${spec.name} must be a list, got format code 0x${code.toString(16)}`, at);
  }
  const fields = spec.fields;
  for (let i = 0; i < count; i++) {
    if (i < fields.length) {
      const field = fields[i]!;
      const v = readField(r, spec, field);
      if (v !== undefined) obj[field.name] = v;
    } else {
      readValue(r); // Fields beyond the spec's: allowed for forward compatibility, ignored.
    }
  }
  if (outerEnd >= 0) leaveCompound(r, outerEnd, spec.name);
  const mandatory = entry.mandatory;
  for (let i = 0; i < mandatory.length; i++) {
    const field = mandatory[i]!;
    if (obj[field.name] === undefined) {
      throw new DecodeError(`${spec.name}: mandatory field ${field.specName} is missing`, at, 'amqp:invalid-field');
    }
  }
  // The one place a decoded object becomes typed: its fields were read by the table the type is derived from.
  return obj as unknown as Composite;
}

function fieldTypeError(r: ByteReader, spec: CompositeSpec, field: FieldSpec, code: number): DecodeError {
  return new DecodeError(
    `${spec.name}.${field.specName} should be ${field.kind}, got format code 0x${code.toString(16).padStart(2, '0')}`,
    r.pos - 1,
  );
}

/** Reads an unsigned integer field in any integer encoding (a lenient reader for a strict writer). */
function readUnsignedNumber(r: ByteReader, spec: CompositeSpec, field: FieldSpec, code: number): number {
  switch (code) {
    case 0x43:
    case 0x44:
      return 0;
    case 0x50:
    case 0x52:
    case 0x53:
      return r.u8();
    case 0x60:
      return r.u16();
    case 0x70:
      return r.u32();
    case 0x80: {
      r.need(8);
      const v = r.view.getBigUint64(r.pos);
      if (v > 0xffffffffn) throw new DecodeError(`${spec.name}.${field.specName} ${v} exceeds the uint range`, r.pos);
      r.pos += 8;
      return Number(v);
    }
  }
  throw fieldTypeError(r, spec, field, code);
}

function readField(r: ByteReader, spec: CompositeSpec, field: FieldSpec): unknown {
  const code = r.u8();
  if (code === 0x40) return undefined;
  switch (field.kind) {
    case 'boolean':
      if (code === 0x41) return true;
      if (code === 0x42) return false;
      if (code === 0x56) return r.u8() !== 0;
      break;
    case 'ubyte':
    case 'ushort':
    case 'uint':
      return readUnsignedNumber(r, spec, field, code);
    case 'ulong':
      switch (code) {
        case 0x44:
          return 0n;
        case 0x53:
        case 0x52:
          return BigInt(r.u8());
        case 0x43:
          return 0n;
        case 0x70:
          return BigInt(r.u32());
        case 0x80:
          return r.u64();
      }
      break;
    case 'string':
    case 'symbol':
      switch (code) {
        case 0xa1:
          return field.multiple ? [readUtf8(r, r.u8())] : readUtf8(r, r.u8());
        case 0xb1:
          return field.multiple ? [readUtf8(r, r.u32())] : readUtf8(r, r.u32());
        case 0xa3:
          return field.multiple ? [readAscii(r, r.u8())] : readAscii(r, r.u8());
        case 0xb3:
          return field.multiple ? [readAscii(r, r.u32())] : readAscii(r, r.u32());
        case 0xe0:
        case 0xf0: {
          if (!field.multiple) break;
          const arr = readArray(r, code === 0xf0);
          if (arr.type !== 'symbol' && arr.type !== 'string') break;
          return arr.elements as string[];
        }
      }
      break;
    case 'binary':
      if (code === 0xa0) return readBinary(r, r.u8());
      if (code === 0xb0) return readBinary(r, r.u32());
      break;
    case 'timestamp':
      if (code === 0x83) return readTimestamp(r, false);
      break;
    case 'fields':
      if (code === 0xc1 || code === 0xd1) return readFields(r, code === 0xd1, spec, field);
      break;
    case 'map':
      if (code === 0xc1 || code === 0xd1) return readMap(r, code === 0xd1);
      break;
    case 'error':
      if (code === 0x00) {
        const v = readDescribedAfterCode(r);
        if (v instanceof Described || (v as { kind: string }).kind !== 'error') break;
        return v;
      }
      break;
    case 'any':
      return readPolymorphic(r, spec, field, code);
  }
  throw fieldTypeError(r, spec, field, code);
}

function readPolymorphic(r: ByteReader, spec: CompositeSpec, field: FieldSpec, code: number): unknown {
  if (code === 0x00) return readDescribedAfterCode(r);
  const value = readWithCode(r, code, true);
  // A ulong message id: exact, the Typed ulong (its type kept, as for any value); native, a number (sent back as a ulong).
  if (r.native && field.requires === 'message-id' && value instanceof Typed && value.type === 'ulong')
    return nativeInteger(value.value as bigint);
  if (field.requires === 'address' && typeof value !== 'string') throw fieldTypeError(r, spec, field, code);
  return value;
}

/** Reads a symbol-keyed map (`fields`, annotations, filter sets) into a plain object. */
function readFields(
  r: ByteReader,
  wide: boolean,
  spec: CompositeSpec | undefined,
  field: FieldSpec | undefined,
  ulongKeys = false,
): Fields {
  const at = r.pos - 1;
  const outerEnd = r.end;
  const count = enterCompound(r, wide, 1, 'map');
  if (count % 2 !== 0) throw new DecodeError(`map has an odd number of elements (${count})`, at);
  const obj: Fields = {};
  for (let i = 0; i < count; i += 2) {
    const keyCode = r.u8();
    let key: string;
    if (keyCode === 0xa3) key = readKey(r, r.u8(), true);
    else if (keyCode === 0xb3) key = readKey(r, r.u32(), true);
    else if (keyCode === 0xa1) key = readKey(r, r.u8(), false);
    else if (keyCode === 0xb1) key = readKey(r, r.u32(), false);
    else if (ulongKeys && (keyCode === 0x44 || keyCode === 0x53 || keyCode === 0x80)) {
      const k = readWithCode(r, keyCode, false) as bigint;
      r.jsonUnsafe = true; // kept under a symbol: the section needs its JSON view to show them
      let reserved = (obj as AmqpObject)[ulongAnnotations];
      if (reserved === undefined) {
        reserved = new Map<bigint, AmqpValue>();
        Object.defineProperty(obj, ulongAnnotations, {
          value: reserved,
          enumerable: false,
          writable: true,
          configurable: true,
        });
      }
      reserved.set(k, readValue(r));
      continue;
    } else {
      const where = spec && field ? `${spec.name}.${field.specName}` : 'annotations';
      throw new DecodeError(`${where} keys must be symbols, got format code 0x${keyCode.toString(16)}`, r.pos - 1);
    }
    setOwn(obj, key, readValue(r));
  }
  leaveCompound(r, outerEnd, 'map');
  return obj;
}

/**
 * Reads a map with symbol or string keys into a plain object (for annotations and application
 * properties); with `ulongKeys` (annotations), ulong keys go to {@link ulongAnnotations}.
 */
export function readKeyedMap(r: ByteReader, ulongKeys = false): Fields {
  const code = r.u8();
  if (code !== 0xc1 && code !== 0xd1) throw codeError(r, code, 'map');
  return readFields(r, code === 0xd1, undefined, undefined, ulongKeys);
}

/** Sets a key on a plain object without letting `__proto__` change its prototype. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** Reads a described section header: 0x00 then its descriptor. Returns the numeric code, or -1. */
export function readSectionDescriptor(r: ByteReader): number {
  const at = r.pos;
  const code = r.u8();
  if (code !== 0x00)
    throw new DecodeError(`expected a message section (a described value), got format code 0x${code.toString(16)}`, at);
  const d = readDescriptor(r);
  if (typeof d === 'number') return d;
  if (typeof d === 'string') {
    const section = SECTION_CODE_BY_NAME[d];
    if (section !== undefined) return section;
    const entry = compositeByDescriptorName.get(d);
    if (entry) return entry.spec.code;
  }
  throw new DecodeError(`unknown message section descriptor ${String(d)}`, at + 1);
}

const SECTION_CODE_BY_NAME: Record<string, number> = Object.fromEntries(
  Object.values(describedSectionSpecs).map((section) => [section.descriptorName, section.code]),
);

/**
 * Reads the fields of a composite whose descriptor was already read, into `target` when given
 * (used to decode the header and properties sections straight into a message).
 */
export function readCompositeBody(r: ByteReader, code: number, target?: Record<string, unknown>): Composite {
  const entry = compositeByCode.get(code);
  if (!entry) throw new DecodeError(`unknown composite descriptor 0x${code.toString(16)}`, r.pos);
  return readCompositeList(r, entry, target);
}
