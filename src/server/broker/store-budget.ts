/**
 * What all of a broker's queues hold together, in bytes, against one limit: a producer on any
 * queue stops getting credit once the store is full, whatever queue it sends to, so that many
 * queues (one per address a client can invent) cannot add up to more memory than allowed.
 */

/** What a stored message costs beyond its payload (its record, its place in the queue), counted against the limits. */
export const MESSAGE_OVERHEAD_BYTES = 128;

export class StoreBudget {
  readonly limit: number;
  #bytes = 0;
  /** Called when the store goes from full to not full (producers of every queue may get credit again). */
  onRoom: (() => void) | undefined;
  /** Called when the store becomes full (the credit producers hold is taken back). */
  onFull: (() => void) | undefined;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now, overhead included. */
  get bytes(): number {
    return this.#bytes;
  }

  get full(): boolean {
    return this.#bytes >= this.limit;
  }

  add(bytes: number): void {
    const wasFull = this.full;
    this.#bytes += bytes;
    if (!wasFull && this.full) this.onFull?.();
  }

  release(bytes: number): void {
    const wasFull = this.full;
    this.#bytes -= bytes;
    if (wasFull && !this.full) this.onRoom?.();
  }
}
