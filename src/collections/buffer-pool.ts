/**
 * Large buffers kept for reuse. A process that sends large messages would otherwise allocate a
 * fresh buffer per message and leave the old ones to the garbage collector, which frees such
 * memory late (V8 counts it as external and waits for tens of megabytes of it): the process grows
 * far beyond what it holds. A buffer comes back to the pool only once nothing refers to its bytes.
 */
import { Buffer } from 'node:buffer';

export class BufferPool {
  readonly #free: ArrayBuffer[] = [];
  #freeBytes = 0;
  /** The buffer `taker` returned last: an encoder's caller tells by it whether the encoder took one. */
  lastTaken: Buffer | undefined;
  /** `take`, bound to this pool once: the allocator to hand an encoder (no closure per call). */
  readonly taker = (size: number): Buffer => (this.lastTaken = this.take(size));

  /**
   * @param maxBuffers  how many buffers the pool keeps at most
   * @param maxBytes    how many bytes it keeps at most
   */
  constructor(
    readonly maxBuffers: number,
    readonly maxBytes: number,
  ) {}

  /** A buffer of at least `size` bytes (and not much more), reused when one fits, else new. */
  take(size: number): Buffer {
    const free = this.#free;
    for (let i = free.length - 1; i >= 0; i--) {
      const ab = free[i]!;
      if (ab.byteLength >= size && ab.byteLength <= size + (size >>> 2)) {
        free.splice(i, 1);
        this.#freeBytes -= ab.byteLength;
        return Buffer.from(ab);
      }
    }
    // A buffer of its own (never a slice of Node's shared pool), so that all of it can be reused.
    return Buffer.allocUnsafeSlow(size);
  }

  /** Gives back the buffer under `bytes` (all of it: nothing may refer to any of its bytes any more). */
  give(bytes: Uint8Array): void {
    const ab = bytes.buffer;
    if (!(ab instanceof ArrayBuffer)) return;
    if (this.#free.includes(ab)) throw new Error('BufferPool: a buffer was given back twice');
    if (this.#free.length >= this.maxBuffers || this.#freeBytes + ab.byteLength > this.maxBytes) return;
    this.#free.push(ab);
    this.#freeBytes += ab.byteLength;
  }

  /** Buffers waiting to be reused. */
  get size(): number {
    return this.#free.length;
  }
}
