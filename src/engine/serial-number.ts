/**
 * RFC 1982 serial-number arithmetic on 32-bit sequence numbers (spec, transport 2.8.9):
 * transfer ids, delivery ids and delivery counts wrap around at 2^32.
 */

/** `a + n` modulo 2^32. */
export function serialAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance from `b` to `a` (positive when `a` is after `b`). */
export function serialDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** True when `a` comes before `b`. */
export function serialLess(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
