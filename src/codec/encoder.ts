/**
 * Encodes AMQP values (spec, types section 1) into a {@link ByteWriter}, always in the smallest
 * encoding the spec allows. Arrays hold one element constructor for all elements, so compound
 * elements of arrays are written in their 32-bit form, as Qpid Proton does.
 */
import { Buffer } from 'node:buffer';
import { EncodeError } from '../errors.js';
import type { ByteWriter } from './byte-writer.js';
import type { CompositeSpec, FieldSpec } from './spec-tables.js';
import { compositeSpecs } from './spec-tables.js';
import { MAX_DECODE_DEPTH } from './decoder.js';
import {
  AmqpArray,
  Described,
  Typed,
  describeJsValue,
  isPlainObject,
  ulongAnnotations,
  type AmqpObject,
  type AmqpValue,
  type ArrayElementType,
} from './values.js';

/**
 * How deep values may nest before encoding stops (also catches cyclic structures). The decoder's
 * limit, counted the same way, so that whatever Quark sends it can also receive, and whatever it
 * receives it can send on.
 */
export const MAX_ENCODE_DEPTH = MAX_DECODE_DEPTH;

const INT64_MIN = -0x8000000000000000n;
const INT64_MAX = 0x7fffffffffffffffn;
const UINT64_MAX = 0xffffffffffffffffn;

function checkDepth(depth: number): void {
  if (depth > MAX_ENCODE_DEPTH) {
    throw new EncodeError(`values nest more than ${MAX_ENCODE_DEPTH} deep (is there a cycle?)`);
  }
}

/** Writes any value with its default AMQP type (see the table in `values.ts`). */
export function writeValue(w: ByteWriter, v: AmqpValue | undefined, depth = 0): void {
  switch (typeof v) {
    case 'string':
      writeString(w, v, 0xa1, 0xb1);
      return;
    case 'number':
      writeNumber(w, v);
      return;
    case 'boolean':
      w.u8(v ? 0x41 : 0x42);
      return;
    case 'bigint':
      if (v >= INT64_MIN && v <= INT64_MAX) writeLong(w, v);
      else writeUlong(w, v);
      return;
    case 'undefined':
      w.u8(0x40);
      return;
    case 'object':
      if (v === null) {
        w.u8(0x40);
        return;
      }
      if (v instanceof Typed) return writeTyped(w, v);
      if (v instanceof Uint8Array) return writeBinary(w, v);
      if (Array.isArray(v)) return writeList(w, v, depth + 1, false);
      if (v instanceof Date) return writeTimestamp(w, v);
      if (v instanceof Map) return writeMap(w, v, depth + 1, false);
      if (v instanceof Described) return writeDescribed(w, v, depth + 1);
      if (v instanceof AmqpArray) return writeArray(w, v, depth + 1, false);
      if (isPlainObject(v)) return writeObjectMap(w, v, depth + 1, false, false);
      break;
  }
  throw new EncodeError(
    `a ${describeJsValue(v)} has no AMQP encoding; use a plain value or a typed constructor such as ulong() or symbol()`,
  );
}

function writeNumber(w: ByteWriter, v: number): void {
  if (Object.is(v, -0)) {
    // Not an integer to AMQP (see typeOf): as a long it would arrive as 0n, its sign lost.
    w.u8(0x82);
    w.f64(v);
  } else if ((v | 0) === v) {
    if (v >= -128 && v <= 127)
      w.u8u8(0x54, v & 0xff); // smallint
    else {
      w.u8(0x71); // int
      w.i32(v);
    }
  } else if (Number.isSafeInteger(v)) {
    w.u8(0x81); // long
    w.i64FromNumber(v);
  } else {
    w.u8(0x82); // double
    w.f64(v);
  }
}

function writeLong(w: ByteWriter, v: bigint): void {
  if (v >= -128n && v <= 127n)
    w.u8u8(0x55, Number(v) & 0xff); // smalllong
  else {
    w.u8(0x81);
    w.i64(v);
  }
}

export function writeUint(w: ByteWriter, v: number): void {
  if (v === 0)
    w.u8(0x43); // uint0
  else if (v > 0 && v <= 255 && Number.isInteger(v))
    w.u8u8(0x52, v); // smalluint
  else {
    if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v)))
      throw new EncodeError(`uint must be an integer from 0 to 4294967295, got ${v}`);
    w.u8(0x70);
    w.u32(v);
  }
}

export function writeUlong(w: ByteWriter, v: bigint | number): void {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new EncodeError(`ulong must be a non-negative integer, got ${v}`);
    if (v === 0) w.u8(0x44);
    else if (v <= 255) w.u8u8(0x53, v);
    else {
      w.u8(0x80);
      w.i64FromNumber(v);
    }
    return;
  }
  if (v === 0n)
    w.u8(0x44); // ulong0
  else if (v > 0n && v <= 255n)
    w.u8u8(0x53, Number(v)); // smallulong
  else {
    if (v < 0n || v > UINT64_MAX) throw new EncodeError(`ulong must be from 0 to 2^64-1, got ${v}`);
    w.u8(0x80);
    w.u64(v);
  }
}

function checkInt(type: string, v: number, min: number, max: number): number {
  if (!(Number.isInteger(v) && v >= min && v <= max))
    throw new EncodeError(`${type} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

function writeTyped(w: ByteWriter, t: Typed): void {
  switch (t.type) {
    case 'ubyte':
      w.u8u8(0x50, checkInt('ubyte', t.value as number, 0, 0xff));
      return;
    case 'ushort':
      w.u8(0x60);
      w.u16(checkInt('ushort', t.value as number, 0, 0xffff));
      return;
    case 'uint':
      writeUint(w, t.value as number);
      return;
    case 'ulong':
      writeUlong(w, t.value as bigint);
      return;
    case 'byte':
      w.u8u8(0x51, checkInt('byte', t.value as number, -0x80, 0x7f) & 0xff);
      return;
    case 'short':
      w.u8(0x61);
      w.u16(checkInt('short', t.value as number, -0x8000, 0x7fff) & 0xffff);
      return;
    case 'float':
      w.u8(0x72);
      w.f32(t.value as number);
      return;
    case 'double':
      w.u8(0x82);
      w.f64(t.value as number);
      return;
    case 'char':
      w.u8(0x73);
      w.u32(codePointOf(t.value as string));
      return;
    case 'symbol':
      writeSymbol(w, t.value as string);
      return;
    case 'uuid':
      w.u8(0x98);
      writeUuidBytes(w, t.value as string);
      return;
    case 'decimal32':
    case 'decimal64':
    case 'decimal128':
      writeDecimal(w, t.type, t.value as Uint8Array);
      return;
    case 'timestamp':
      w.u8(0x83);
      w.i64(t.value as bigint);
      return;
  }
  throw new EncodeError(`unknown typed value kind ${String((t as { type: unknown }).type)}`);
}

const DECIMAL_CODES = { decimal32: [0x74, 4], decimal64: [0x84, 8], decimal128: [0x94, 16] } as const;

function writeDecimal(w: ByteWriter, type: keyof typeof DECIMAL_CODES, bytes: Uint8Array, withCode = true): void {
  const [code, width] = DECIMAL_CODES[type];
  if (!(bytes instanceof Uint8Array) || bytes.length !== width) throw new EncodeError(`${type} must be ${width} bytes`);
  if (withCode) w.u8(code);
  w.bytes(bytes);
}

function codePointOf(s: string): number {
  const cp = typeof s === 'string' ? s.codePointAt(0) : undefined;
  if (cp === undefined || String.fromCodePoint(cp) !== s) {
    throw new EncodeError(`char must be exactly one Unicode code point, got ${JSON.stringify(s)}`);
  }
  return cp;
}

function writeUuidBytes(w: ByteWriter, text: string): void {
  const hex = typeof text === 'string' ? text.replace(/-/g, '') : '';
  if (hex.length !== 32 || !/^[0-9a-fA-F]+$/.test(hex))
    throw new EncodeError(`uuid must be in canonical text form, got ${JSON.stringify(text)}`);
  w.ensure(16);
  w.buf.write(hex, w.pos, 16, 'hex');
  w.pos += 16;
}

function timestampMs(d: Date): number {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new EncodeError('timestamp is an invalid Date');
  return ms;
}

function writeTimestamp(w: ByteWriter, d: Date): void {
  const ms = timestampMs(d);
  w.u8(0x83);
  w.i64FromNumber(ms);
}

function writeBinary(w: ByteWriter, b: Uint8Array): void {
  const n = b.length;
  if (n <= 255) {
    w.ensure(2 + n);
    w.buf[w.pos] = 0xa0; // vbin8
    w.buf[w.pos + 1] = n;
    w.pos += 2;
  } else {
    w.u8(0xb0); // vbin32
    w.u32(n);
  }
  w.bytes(b);
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** Throws unless `s` can be a symbol: ASCII only (spec, types section 1.6.21). */
function checkSymbol(s: string): string {
  if (typeof s !== 'string') throw new EncodeError(`symbol must be a string, got ${describeJsValue(s)}`);
  if (NON_ASCII.test(s)) throw new EncodeError(`symbol must be ASCII, got ${JSON.stringify(s)}`);
  return s;
}

/** Writes a symbol: sym8 when it fits in 255 bytes, else sym32. Throws for text that is not ASCII. */
export function writeSymbol(w: ByteWriter, s: string): void {
  writeString(w, checkSymbol(s), 0xa3, 0xb3);
}

/** Up to this many UTF-16 units, a JavaScript copy loop beats a call into the native UTF-8 encoder. */
const SHORT_STRING = 32;

/** Writes a string or symbol: str8/sym8 when its UTF-8 form fits in 255 bytes, else str32/sym32. */
export function writeString(w: ByteWriter, s: string, code8: number, code32: number): void {
  const n = s.length;
  if (n <= 255) {
    // At most 3 bytes per UTF-16 unit: write the UTF-8 form in place after a one-byte size (no
    // separate length pass), and move it right for a 4-byte size in the rare case it exceeds 255.
    w.ensure(5 + n * 3);
    const b = w.buf;
    const start = w.pos;
    let len = n;
    if (n <= SHORT_STRING) {
      let p = start + 2;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          len = b.write(s, start + 2, 'utf8');
          break;
        }
        b[p++] = c;
      }
    } else {
      len = b.write(s, start + 2, 'utf8');
    }
    if (len <= 255) {
      b[start] = code8;
      b[start + 1] = len;
      w.pos = start + 2 + len;
    } else {
      b.copyWithin(start + 5, start + 2, start + 2 + len);
      b[start] = code32;
      w.view.setUint32(start + 1, len);
      w.pos = start + 5 + len;
    }
    return;
  }
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes <= 255) {
    w.ensure(2 + bytes);
    w.buf[w.pos] = code8;
    w.buf[w.pos + 1] = bytes;
    w.buf.write(s, w.pos + 2, 'utf8');
    w.pos += 2 + bytes;
    return;
  }
  w.ensure(5 + bytes);
  w.buf[w.pos] = code32;
  w.view.setUint32(w.pos + 1, bytes);
  w.buf.write(s, w.pos + 5, 'utf8');
  w.pos += 5 + bytes;
}

/**
 * Starts a compound value (list, map or array) with a one-byte size and count, to be widened by
 * {@link endCompound} if the content turns out too long. Returns the position of the header.
 * In an array (`wide`), compound elements carry no code and always use 32-bit size and count.
 */
function beginCompound(w: ByteWriter, code8: number, wide: boolean): number {
  const at = w.pos;
  if (wide) {
    w.ensure(8);
    w.pos += 8;
  } else {
    w.ensure(3);
    w.buf[at] = code8;
    w.pos += 3;
  }
  return at;
}

function endCompound(w: ByteWriter, at: number, count: number, code32: number, wide: boolean): void {
  if (wide) {
    w.patchU32(at, w.pos - at - 4);
    w.patchU32(at + 4, count);
    return;
  }
  const size = w.pos - at - 2; // count byte + content
  if (size <= 255 && count <= 255) {
    w.buf[at + 1] = size;
    w.buf[at + 2] = count;
    return;
  }
  // Widen the header from code+size8+count8 to code+size32+count32.
  w.insertGap(at + 3, 6);
  w.buf[at] = code32;
  w.patchU32(at + 1, size - 1 + 4);
  w.patchU32(at + 5, count);
}

function writeList(w: ByteWriter, items: readonly (AmqpValue | undefined)[], depth: number, wide: boolean): void {
  checkDepth(depth);
  if (items.length === 0 && !wide) {
    w.u8(0x45); // list0
    return;
  }
  const at = beginCompound(w, 0xc0, wide);
  for (let i = 0; i < items.length; i++) writeValue(w, items[i], depth);
  endCompound(w, at, items.length, 0xd0, wide);
}

function writeMap(w: ByteWriter, map: Map<AmqpValue, AmqpValue>, depth: number, wide: boolean): void {
  checkDepth(depth);
  const at = beginCompound(w, 0xc1, wide);
  for (const [key, value] of map) {
    writeValue(w, key, depth);
    writeValue(w, value, depth);
  }
  endCompound(w, at, map.size * 2, 0xd1, wide);
}

/** Writes a plain object as a map whose keys are strings (or symbols, for `fields`/annotations). */
export function writeObjectMap(
  w: ByteWriter,
  obj: AmqpObject,
  depth: number,
  wide: boolean,
  symbolKeys: boolean,
): void {
  checkDepth(depth);
  const at = beginCompound(w, 0xc1, wide);
  let count = 0;
  const reserved = symbolKeys ? obj[ulongAnnotations] : undefined;
  if (reserved !== undefined) {
    for (const [key, value] of reserved) {
      writeUlong(w, key);
      writeValue(w, value, depth);
      count += 2;
    }
  }
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === undefined) continue;
    if (symbolKeys) writeSymbol(w, key);
    else writeString(w, key, 0xa1, 0xb1);
    writeValue(w, value, depth);
    count += 2;
  }
  endCompound(w, at, count, 0xd1, wide);
}

function writeDescribed(w: ByteWriter, d: Described, depth: number): void {
  checkDepth(depth);
  w.u8(0x00);
  writeValue(w, d.descriptor, depth);
  writeValue(w, d.value, depth);
}

/** The element constructor for an array: the narrowest one that holds every element. */
function arrayElementCode(type: ArrayElementType | 'null', elements: readonly AmqpValue[]): number {
  switch (type) {
    case 'null':
      return 0x40;
    case 'boolean':
      return 0x56;
    case 'ubyte':
      return 0x50;
    case 'ushort':
      return 0x60;
    case 'uint':
      return elements.every((e) => plainNumber(e) <= 255) ? 0x52 : 0x70;
    case 'ulong':
      return elements.every((e) => plainBig(e) <= 255n) ? 0x53 : 0x80;
    case 'byte':
      return 0x51;
    case 'short':
      return 0x61;
    case 'int':
      return elements.every((e) => {
        const n = plainNumber(e);
        return n >= -128 && n <= 127;
      })
        ? 0x54
        : 0x71;
    case 'long':
      return elements.every((e) => {
        const n = plainBig(e);
        return n >= -128n && n <= 127n;
      })
        ? 0x55
        : 0x81;
    case 'float':
      return 0x72;
    case 'double':
      return 0x82;
    case 'decimal32':
      return 0x74;
    case 'decimal64':
      return 0x84;
    case 'decimal128':
      return 0x94;
    case 'char':
      return 0x73;
    case 'timestamp':
      return 0x83;
    case 'uuid':
      return 0x98;
    case 'binary':
      return elements.every((e) => e instanceof Uint8Array && e.length <= 255) ? 0xa0 : 0xb0;
    case 'string':
      return elements.every((e) => Buffer.byteLength(plainString(e), 'utf8') <= 255) ? 0xa1 : 0xb1;
    case 'symbol':
      return elements.every((e) => checkSymbol(plainString(e)).length <= 255) ? 0xa3 : 0xb3;
    case 'list':
      return 0xd0;
    case 'map':
      return 0xd1;
    case 'array':
      return 0xf0;
  }
  throw new EncodeError(`unknown array element type ${JSON.stringify(type)}`);
}

/** Array elements may be given plain or as a {@link Typed} of the array's type. */
function unwrap(e: AmqpValue): AmqpValue {
  return e instanceof Typed ? (e.value as AmqpValue) : e;
}
function plainNumber(e: AmqpValue): number {
  const v = unwrap(e);
  if (typeof v !== 'number') throw new EncodeError(`array element must be a number, got ${describeJsValue(v)}`);
  return v;
}
function plainBig(e: AmqpValue): bigint {
  const v = unwrap(e);
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new EncodeError(`array element must be a bigint, got ${describeJsValue(v)}`);
}
function plainString(e: AmqpValue): string {
  const v = unwrap(e);
  if (typeof v !== 'string') throw new EncodeError(`array element must be a string, got ${describeJsValue(v)}`);
  return v;
}

function writeArray(w: ByteWriter, arr: AmqpArray, depth: number, wide: boolean): void {
  checkDepth(depth);
  const { elements } = arr;
  const code = arrayElementCode(arr.type, elements);
  const at = beginCompound(w, 0xe0, wide);
  if (arr.descriptor !== undefined) {
    w.u8(0x00);
    writeValue(w, arr.descriptor, depth);
  }
  w.u8(code);
  for (let i = 0; i < elements.length; i++) writeElement(w, code, elements[i]!, depth);
  endCompound(w, at, elements.length, 0xf0, wide);
}

/** Writes one array element's bytes (no constructor) for element constructor `code`. */
function writeElement(w: ByteWriter, code: number, e: AmqpValue, depth: number): void {
  switch (code) {
    case 0x40:
      return;
    case 0x56: {
      const v = unwrap(e);
      if (typeof v !== 'boolean') throw new EncodeError(`array element must be a boolean, got ${describeJsValue(v)}`);
      w.u8(v ? 1 : 0);
      return;
    }
    case 0x50:
      w.u8(checkInt('ubyte', plainNumber(e), 0, 0xff));
      return;
    case 0x60:
      w.u16(checkInt('ushort', plainNumber(e), 0, 0xffff));
      return;
    case 0x52:
      w.u8(checkInt('uint', plainNumber(e), 0, 0xff));
      return;
    case 0x70:
      w.u32(checkInt('uint', plainNumber(e), 0, 0xffffffff));
      return;
    case 0x53: {
      const v = plainBig(e);
      if (v < 0n) throw new EncodeError(`ulong must be from 0 to 2^64-1, got ${v}`);
      w.u8(Number(v));
      return;
    }
    case 0x80: {
      const v = plainBig(e);
      if (v < 0n || v > UINT64_MAX) throw new EncodeError(`ulong must be from 0 to 2^64-1, got ${v}`);
      w.u64(v);
      return;
    }
    case 0x51:
      w.u8(checkInt('byte', plainNumber(e), -0x80, 0x7f) & 0xff);
      return;
    case 0x61:
      w.u16(checkInt('short', plainNumber(e), -0x8000, 0x7fff) & 0xffff);
      return;
    case 0x54:
      w.u8(checkInt('int', plainNumber(e), -0x80, 0x7f) & 0xff);
      return;
    case 0x71:
      w.i32(checkInt('int', plainNumber(e), -0x80000000, 0x7fffffff));
      return;
    case 0x55:
      w.u8(Number(plainBig(e)) & 0xff);
      return;
    case 0x81: {
      const v = plainBig(e);
      if (v < INT64_MIN || v > INT64_MAX) throw new EncodeError(`long must be a signed 64-bit integer, got ${v}`);
      w.i64(v);
      return;
    }
    case 0x72:
      w.f32(plainNumber(e));
      return;
    case 0x82:
      w.f64(plainNumber(e));
      return;
    case 0x74:
      writeDecimal(w, 'decimal32', unwrap(e) as Uint8Array, false);
      return;
    case 0x84:
      writeDecimal(w, 'decimal64', unwrap(e) as Uint8Array, false);
      return;
    case 0x94:
      writeDecimal(w, 'decimal128', unwrap(e) as Uint8Array, false);
      return;
    case 0x73:
      w.u32(codePointOf(plainString(e)));
      return;
    case 0x83: {
      const v = unwrap(e);
      if (v instanceof Date) w.i64FromNumber(timestampMs(v));
      else w.i64(plainBig(v));
      return;
    }
    case 0x98:
      writeUuidBytes(w, plainString(e));
      return;
    case 0xa0:
    case 0xb0: {
      const v = unwrap(e);
      if (!(v instanceof Uint8Array)) throw new EncodeError(`array element must be binary, got ${describeJsValue(v)}`);
      if (code === 0xa0) w.u8(v.length);
      else w.u32(v.length);
      w.bytes(v);
      return;
    }
    case 0xa1:
    case 0xa3:
    case 0xb1:
    case 0xb3: {
      const s = plainString(e);
      const len = Buffer.byteLength(s, 'utf8');
      if (code === 0xa1 || code === 0xa3) w.u8(len);
      else w.u32(len);
      w.ensure(len);
      w.buf.write(s, w.pos, 'utf8');
      w.pos += len;
      return;
    }
    case 0xd0: {
      if (!Array.isArray(e)) throw new EncodeError(`array element must be a list, got ${describeJsValue(e)}`);
      writeList(w, e, depth + 1, true);
      return;
    }
    case 0xd1: {
      if (e instanceof Map) writeMap(w, e, depth + 1, true);
      else if (e !== null && typeof e === 'object' && isPlainObject(e))
        writeObjectMap(w, e as AmqpObject, depth + 1, true, false);
      else throw new EncodeError(`array element must be a map, got ${describeJsValue(e)}`);
      return;
    }
    case 0xf0: {
      if (!(e instanceof AmqpArray)) throw new EncodeError(`array element must be an array, got ${describeJsValue(e)}`);
      writeArray(w, e, depth + 1, true);
      return;
    }
  }
}

// ---- Composite types, driven by the spec tables ----

const compositeByName = compositeSpecs as Record<string, CompositeSpec>;

/**
 * Writes a composite (a described list) from an object of its fields. `depth` is that of the
 * value holding it; the described value and its list are two levels more, as the decoder counts.
 */
export function writeComposite(w: ByteWriter, spec: CompositeSpec, obj: object, depth = 0): void {
  const listDepth = depth + 2;
  checkDepth(listDepth);
  const fields = spec.fields;
  const values = obj as Record<string, unknown>;
  let last = fields.length - 1;
  while (last >= 0 && values[fields[last]!.name] == null) last--;
  // Fields after the last one present are left off the list: none of them may be mandatory.
  for (let i = last + 1; i < fields.length; i++) {
    if (fields[i]!.mandatory) throw new EncodeError(`${spec.name}: mandatory field ${fields[i]!.specName} is missing`);
  }
  w.ensure(3);
  w.buf[w.pos] = 0x00;
  w.buf[w.pos + 1] = 0x53; // smallulong descriptor
  w.buf[w.pos + 2] = spec.code;
  w.pos += 3;
  if (last < 0) {
    w.u8(0x45);
    return;
  }
  const at = beginCompound(w, 0xc0, false);
  for (let i = 0; i <= last; i++) {
    const field = fields[i]!;
    const value = values[field.name];
    if (value == null) {
      if (field.mandatory) throw new EncodeError(`${spec.name}: mandatory field ${field.specName} is missing`);
      w.u8(0x40);
    } else {
      writeField(w, spec, field, value, listDepth);
    }
  }
  endCompound(w, at, last + 1, 0xd0, false);
}

function fieldError(spec: CompositeSpec, field: FieldSpec, expected: string, value: unknown): EncodeError {
  return new EncodeError(`${spec.name}.${field.specName} must be ${expected}, got ${describeJsValue(value)}`);
}

/** Writes one field of a composite; `depth` is that of the composite's list. */
function writeField(w: ByteWriter, spec: CompositeSpec, field: FieldSpec, value: unknown, depth: number): void {
  if (field.multiple && Array.isArray(value)) {
    writeMultiple(w, spec, field, value, depth);
    return;
  }
  switch (field.kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw fieldError(spec, field, 'a boolean', value);
      w.u8(value ? 0x41 : 0x42);
      return;
    case 'ubyte':
      if (typeof value !== 'number') throw fieldError(spec, field, 'a number', value);
      w.u8u8(0x50, checkInt(`${spec.name}.${field.specName}`, value, 0, 0xff));
      return;
    case 'ushort':
      if (typeof value !== 'number') throw fieldError(spec, field, 'a number', value);
      w.u8(0x60);
      w.u16(checkInt(`${spec.name}.${field.specName}`, value, 0, 0xffff));
      return;
    case 'uint':
      if (typeof value !== 'number') throw fieldError(spec, field, 'a number', value);
      writeUint(w, value);
      return;
    case 'ulong':
      if (typeof value !== 'bigint' && typeof value !== 'number') throw fieldError(spec, field, 'a bigint', value);
      writeUlong(w, value);
      return;
    case 'string':
      if (typeof value !== 'string') throw fieldError(spec, field, 'a string', value);
      writeString(w, value, 0xa1, 0xb1);
      return;
    case 'symbol':
      if (typeof value !== 'string') throw fieldError(spec, field, 'a string', value);
      writeSymbol(w, value);
      return;
    case 'binary':
      if (!(value instanceof Uint8Array)) throw fieldError(spec, field, 'a Uint8Array', value);
      writeBinary(w, value);
      return;
    case 'timestamp':
      if (value instanceof Date) writeTimestamp(w, value);
      else if (typeof value === 'number') writeTimestamp(w, new Date(value));
      else if (typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX) {
        // Beyond the range of Date a timestamp field decodes as bigint milliseconds: send it on as it came.
        w.u8(0x83);
        w.i64(value);
      } else throw fieldError(spec, field, 'a Date or milliseconds', value);
      return;
    case 'fields':
      if (value instanceof Map) writeMap(w, value, depth + 1, false);
      else if (typeof value === 'object' && value !== null && isPlainObject(value))
        writeObjectMap(w, value as AmqpObject, depth + 1, false, true);
      else throw fieldError(spec, field, 'an object keyed by symbol name', value);
      return;
    case 'map':
      if (value instanceof Map) writeMap(w, value, depth + 1, false);
      else if (typeof value === 'object' && value !== null && isPlainObject(value))
        writeObjectMap(w, value as AmqpObject, depth + 1, false, false);
      else throw fieldError(spec, field, 'a Map', value);
      return;
    case 'error':
      if (typeof value !== 'object' || value === null) throw fieldError(spec, field, 'an error object', value);
      writeComposite(w, compositeSpecs.error, value as object, depth);
      return;
    case 'any':
      writePolymorphic(w, spec, field, value, depth);
      return;
  }
}

function writeMultiple(
  w: ByteWriter,
  spec: CompositeSpec,
  field: FieldSpec,
  values: readonly unknown[],
  depth: number,
): void {
  switch (field.kind) {
    case 'symbol':
      for (const v of values) if (typeof v !== 'string') throw fieldError(spec, field, 'an array of strings', v);
      writeArray(w, new AmqpArray('symbol', values as string[]), depth + 1, false);
      return;
    default: {
      // Composite or polymorphic elements: the spec allows a list-encoded array here only as an
      // AMQP array of described values; no multiple field of the spec has such a type.
      throw fieldError(spec, field, 'a single value', values);
    }
  }
}

function writePolymorphic(w: ByteWriter, spec: CompositeSpec, field: FieldSpec, value: unknown, depth: number): void {
  switch (field.requires) {
    case 'message-id':
      writeMessageId(w, value, `${spec.name}.${field.specName}`);
      return;
    case 'address':
      if (typeof value !== 'string') throw fieldError(spec, field, 'an address string', value);
      writeString(w, value, 0xa1, 0xb1);
      return;
    case 'txn-id':
      if (!(value instanceof Uint8Array)) throw fieldError(spec, field, 'a Uint8Array transaction id', value);
      writeBinary(w, value);
      return;
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Described) && 'kind' in value) {
    const kind = (value as { kind: unknown }).kind;
    const target = typeof kind === 'string' ? compositeByName[kind] : undefined;
    if (!target) throw fieldError(spec, field, `a ${field.requires ?? 'value'} (unknown kind ${String(kind)})`, value);
    writeComposite(w, target, value, depth);
    return;
  }
  writeValue(w, value as AmqpValue, depth);
}

/** Writes a message-id: string, ulong (bigint or non-negative integer), binary or uuid. */
export function writeMessageId(w: ByteWriter, value: unknown, what: string): void {
  if (typeof value === 'string') writeString(w, value, 0xa1, 0xb1);
  else if (typeof value === 'bigint' || typeof value === 'number') writeUlong(w, value);
  else if (value instanceof Uint8Array) writeBinary(w, value);
  else if (value instanceof Typed && (value.type === 'uuid' || value.type === 'ulong')) writeTyped(w, value);
  else throw new EncodeError(`${what} must be a string, bigint, Uint8Array or uuid(), got ${describeJsValue(value)}`);
}
