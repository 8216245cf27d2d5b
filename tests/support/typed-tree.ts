/**
 * A type-exact, order-keeping view of an AMQP value for `toEqual`: every value becomes a tagged
 * tree naming its AMQP type, maps become entry lists in wire order, binaries become hex. Two
 * values have equal trees only if they have the same AMQP types, values and map order, so
 * `expect(typedTree(got)).toEqual(typedTree(want))` checks types too, with a readable diff.
 */
import { AmqpArray, Described, Typed, type AmqpValue } from '../../src/index.js';

export type TypedTree =
  | null
  | boolean
  | string
  | { [tag: string]: TypedTree | TypedTree[] | [TypedTree, TypedTree][] | string | number | undefined };

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function typedTree(v: AmqpValue | undefined): TypedTree {
  if (v === undefined) return { undefined: 'absent' };
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number')
    return Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff && !Object.is(v, -0) ? { int: v } : { number: v };
  if (typeof v === 'bigint') return { long: v.toString() };
  if (v instanceof Uint8Array) return { binary: hex(v) };
  if (v instanceof Date) return { timestamp: v.getTime() };
  if (v instanceof Typed) {
    const x = v.value;
    const value =
      x instanceof Uint8Array
        ? hex(x)
        : typeof x === 'bigint'
          ? x.toString()
          : typeof x === 'number' && Object.is(x, -0)
            ? '-0'
            : x;
    return { [v.type]: value };
  }
  if (v instanceof Described) return { described: [typedTree(v.descriptor), typedTree(v.value)] };
  if (v instanceof AmqpArray) {
    return {
      array: v.type,
      descriptor: v.descriptor === undefined ? undefined : typedTree(v.descriptor),
      elements: v.elements.map((e) => typedTree(e)),
    };
  }
  if (Array.isArray(v)) return { list: v.map((e) => typedTree(e)) };
  if (v instanceof Map) return { map: [...v].map(([k, x]): [TypedTree, TypedTree] => [typedTree(k), typedTree(x)]) };
  return {
    object: Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]): [TypedTree, TypedTree] => [k, typedTree(x)]),
  };
}
