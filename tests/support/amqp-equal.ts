/**
 * Exact comparison of AMQP values for codec tests: two values are the same only when they have the
 * same AMQP type and the same value. `1` (int), `1n` (long), `ulong(1)` and `double(1)` all differ;
 * `-0` and `0` differ; NaN equals NaN; Map entries are compared in order; a `Buffer` equals a
 * `Uint8Array` of the same bytes (binary decodes as a Buffer view).
 */
import { inspect } from 'node:util';
import { AmqpArray, Described, Typed } from '../../src/codec/values.js';

function show(v: unknown): string {
  return inspect(v, { depth: 3, maxArrayLength: 8, maxStringLength: 60, breakLength: Infinity });
}

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  if (v instanceof Typed) return `Typed<${v.type}>`;
  if (v instanceof Described) return 'Described';
  if (v instanceof AmqpArray) return 'AmqpArray';
  if (v instanceof Uint8Array) return 'binary';
  if (v instanceof Date) return 'Date';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Map) return 'Map';
  if (isPlainObject(v)) return 'object';
  return `instance of ${(v as { constructor?: { name?: string } }).constructor?.name ?? '?'}`;
}

/**
 * Returns undefined when `actual` is exactly `expected` (type and value), or a sentence saying
 * where and how they first differ.
 */
export function amqpDifference(actual: unknown, expected: unknown, path = 'value'): string | undefined {
  const ka = kindOf(actual);
  const ke = kindOf(expected);
  if (ka !== ke) return `${path}: expected a ${ke} ${show(expected)}, got a ${ka} ${show(actual)}`;
  if (typeof expected !== 'object' || expected === null) {
    return Object.is(actual, expected) ? undefined : `${path}: expected ${show(expected)}, got ${show(actual)}`;
  }
  if (expected instanceof Typed) {
    return amqpDifference((actual as Typed).value, expected.value, `${path}<${expected.type}>`);
  }
  if (expected instanceof Described) {
    const a = actual as Described;
    return (
      amqpDifference(a.descriptor, expected.descriptor, `${path}.descriptor`) ??
      amqpDifference(a.value, expected.value, `${path}.value`)
    );
  }
  if (expected instanceof AmqpArray) {
    const a = actual as AmqpArray;
    if (a.type !== expected.type) return `${path}: expected an array of ${expected.type}, got an array of ${a.type}`;
    if ((a.descriptor === undefined) !== (expected.descriptor === undefined)) {
      return `${path}.descriptor: expected ${show(expected.descriptor)}, got ${show(a.descriptor)}`;
    }
    if (expected.descriptor !== undefined) {
      const d = amqpDifference(a.descriptor, expected.descriptor, `${path}.descriptor`);
      if (d) return d;
    }
    return listDifference(a.elements, expected.elements, `${path}.elements`);
  }
  if (expected instanceof Uint8Array) {
    const a = actual as Uint8Array;
    if (a.length !== expected.length) return `${path}: expected ${expected.length} bytes, got ${a.length}`;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== expected[i]) return `${path}[${i}]: expected byte ${expected[i]}, got ${a[i]}`;
    }
    return undefined;
  }
  if (expected instanceof Date) {
    const a = actual as Date;
    return Object.is(a.getTime(), expected.getTime())
      ? undefined
      : `${path}: expected ${expected.toISOString()}, got ${show(a)}`;
  }
  if (Array.isArray(expected)) return listDifference(actual as unknown[], expected, path);
  if (expected instanceof Map) {
    const a = actual as Map<unknown, unknown>;
    if (a.size !== expected.size)
      return `${path}: expected a map of ${expected.size} entries, got ${a.size}: ${show(a)}`;
    const ae = [...a.entries()];
    const ee = [...expected.entries()];
    for (let i = 0; i < ee.length; i++) {
      const d =
        amqpDifference(ae[i]![0], ee[i]![0], `${path}.key#${i}`) ??
        amqpDifference(ae[i]![1], ee[i]![1], `${path}.get(${show(ee[i]![0])})`);
      if (d) return d;
    }
    return undefined;
  }
  // A plain object (a message, a composite, a symbol-keyed map): the same keys, in any order.
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  const ak = Object.keys(a).sort();
  const ek = Object.keys(e).sort();
  if (ak.join('\u0000') !== ek.join('\u0000')) return `${path}: expected keys ${show(ek)}, got ${show(ak)}`;
  for (const k of ek) {
    const d = amqpDifference(a[k], e[k], `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}

function listDifference(actual: readonly unknown[], expected: readonly unknown[], path: string): string | undefined {
  if (actual.length !== expected.length) return `${path}: expected ${expected.length} elements, got ${actual.length}`;
  for (let i = 0; i < expected.length; i++) {
    const d = amqpDifference(actual[i], expected[i], `${path}[${i}]`);
    if (d) return d;
  }
  return undefined;
}
