/**
 * JSON in which every value carries its AMQP type, for `quark receive --json`:
 * `{ "type": "ulong", "value": "18446744073709551615" }`. 64-bit integers, decimals and binary
 * are strings (decimal digits, hex), so nothing loses precision.
 */
import { Buffer } from 'node:buffer';
import { AmqpArray, Described, Typed, type AmqpValue } from '../codec/values.js';

/** A value with its AMQP type, as JSON can hold it. */
export interface TypedJson {
  type: string;
  value?: unknown;
  descriptor?: TypedJson;
  elementType?: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Converts a decoded AMQP value to typed JSON. */
export function toTypedJson(value: AmqpValue | undefined): TypedJson {
  switch (typeof value) {
    case 'undefined':
      return { type: 'null' };
    case 'boolean':
      return { type: 'boolean', value };
    case 'string':
      return { type: 'string', value };
    case 'number':
      return Number.isInteger(value) && !Object.is(value, -0) && (value | 0) === value
        ? { type: 'int', value }
        : { type: 'double', value: jsonNumber(value) };
    case 'bigint':
      return { type: 'long', value: value.toString() };
  }
  if (value === null) return { type: 'null' };
  if (value instanceof Typed) {
    const v: unknown = value.value;
    if (v instanceof Uint8Array) return { type: value.type, value: hex(v) };
    if (typeof v === 'bigint') return { type: value.type, value: v.toString() };
    if (typeof v === 'number') return { type: value.type, value: jsonNumber(v) };
    return { type: value.type, value: v };
  }
  if (value instanceof Uint8Array) return { type: 'binary', value: hex(value) };
  if (value instanceof Date) return { type: 'timestamp', value: value.toISOString() };
  if (Array.isArray(value)) return { type: 'list', value: value.map((v) => toTypedJson(v)) };
  if (value instanceof Map) return { type: 'map', value: [...value].map(([k, v]) => [toTypedJson(k), toTypedJson(v)]) };
  if (value instanceof Described)
    return { type: 'described', descriptor: toTypedJson(value.descriptor), value: toTypedJson(value.value) };
  if (value instanceof AmqpArray) {
    return {
      type: 'array',
      elementType: value.type,
      ...(value.descriptor === undefined ? {} : { descriptor: toTypedJson(value.descriptor) }),
      value: value.elements.map((e) => elementJson(value.type, e)),
    };
  }
  return { type: 'map', value: Object.entries(value).map(([k, v]) => [toTypedJson(k), toTypedJson(v)]) };
}

/** Array elements are held plain; give them their array's type. */
function elementJson(type: string, e: AmqpValue): TypedJson {
  if (typeof e === 'number') return { type, value: jsonNumber(e) };
  if (typeof e === 'bigint') return { type, value: e.toString() };
  if (typeof e === 'string') return { type, value: e };
  if (e instanceof Uint8Array && type !== 'binary') return { type, value: hex(e) };
  return toTypedJson(e);
}

/** JSON has no NaN or infinities: they are written as strings. */
function jsonNumber(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}

/** Converts a record of values (properties, annotations) to typed JSON, key by key. */
export function recordToTypedJson(
  record: Record<string, AmqpValue> | undefined,
): Record<string, TypedJson> | undefined {
  if (record === undefined) return undefined;
  const out: Record<string, TypedJson> = {};
  for (const [k, v] of Object.entries(record)) out[k] = toTypedJson(v);
  return out;
}
