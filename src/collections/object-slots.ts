/**
 * Storage for ring buffers of objects. `new Array(n)` starts with small-integer elements and
 * changes its kind when the first object is stored; code the JIT optimized for the arrays of the
 * first queue would then meet a different kind of array in every new queue (a new receiver's, a
 * new session's) and be thrown away. Arrays made here hold objects from the start.
 */
export function objectSlots<T>(length: number): (T | undefined)[] {
  return new Array<T | undefined>(length).fill(undefined);
}
