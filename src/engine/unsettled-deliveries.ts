/**
 * A session's unsettled deliveries of one direction, by delivery id. Delivery ids are handed out in
 * order (spec, transport 2.6.12) and deliveries mostly settle in about that order, so they sit in a
 * ring indexed by id: adding and settling one allocates nothing and does not hash (a Map churns its
 * table as it fills and empties on every turn). An id that does not fit the ring's order, or a
 * delivery left unsettled while many after it settle, moves to a Map on the side, so a gap can
 * never make the ring grow without bound.
 */
import type { EngineDelivery } from './delivery.js';
import { serialAdd, serialDiff } from './serial-number.js';
import { objectSlots } from '../collections/object-slots.js';

/** How far beyond the newest id a new one may land and still go in the ring (the holes cost a slot each). */
const MAX_GAP = 1024;

export class UnsettledDeliveries {
  #slots: (EngineDelivery | undefined)[] = objectSlots<EngineDelivery>(16);
  /** The slot of `#base`. */
  #head = 0;
  /** The id of the oldest slot in use. */
  #base = 0;
  /** Slots in use from `#head`, holes included. */
  #span = 0;
  /** Deliveries in the ring. */
  #count = 0;
  /** Deliveries out of the ring's order. */
  #aside: Map<number, EngineDelivery> | undefined;

  get size(): number {
    return this.#count + (this.#aside?.size ?? 0);
  }

  /** The ring's slots (it never shrinks; it grows only with the deliveries unsettled at once). */
  get capacity(): number {
    return this.#slots.length;
  }

  set(id: number, delivery: EngineDelivery): void {
    if (this.#count === 0) {
      this.#head = 0;
      this.#base = id;
      this.#span = 0;
    }
    const offset = serialDiff(id, this.#base);
    if (offset >= this.#span && offset - this.#span < MAX_GAP) {
      while (offset >= this.#slots.length) this.#grow();
      this.#slots[(this.#head + offset) & (this.#slots.length - 1)] = delivery;
      this.#span = offset + 1;
      this.#count++;
      this.#keepDense();
      return;
    }
    if (offset >= 0 && offset < this.#span) {
      const slot = (this.#head + offset) & (this.#slots.length - 1);
      if (this.#slots[slot] === undefined) this.#count++;
      this.#slots[slot] = delivery;
      return;
    }
    (this.#aside ??= new Map()).set(id, delivery);
  }

  get(id: number): EngineDelivery | undefined {
    return this.#inRing(id) ?? this.#aside?.get(id);
  }

  #inRing(id: number): EngineDelivery | undefined {
    const offset = serialDiff(id, this.#base);
    return offset >= 0 && offset < this.#span
      ? this.#slots[(this.#head + offset) & (this.#slots.length - 1)]
      : undefined;
  }

  delete(id: number): boolean {
    const offset = serialDiff(id, this.#base);
    if (offset >= 0 && offset < this.#span) {
      const mask = this.#slots.length - 1;
      const slot = (this.#head + offset) & mask;
      if (this.#slots[slot] !== undefined) {
        this.#slots[slot] = undefined;
        this.#count--;
        // Move the start past the settled ones.
        while (this.#span > 0 && this.#slots[this.#head] === undefined) {
          this.#head = (this.#head + 1) & mask;
          this.#base = serialAdd(this.#base, 1);
          this.#span--;
        }
        return true;
      }
    }
    return this.#aside?.delete(id) ?? false;
  }

  /** Every delivery, ring first (by id), then those aside. Deleting the one visited is allowed. */
  *values(): IterableIterator<EngineDelivery> {
    // By id, not by slot: deleting the oldest moves the ring's start.
    const base = this.#base;
    const span = this.#span;
    for (let i = 0; i < span; i++) {
      const d = this.#inRing(serialAdd(base, i));
      if (d !== undefined) yield d;
    }
    if (this.#aside !== undefined) yield* [...this.#aside.values()];
  }

  clear(): void {
    this.#slots = objectSlots<EngineDelivery>(16);
    this.#head = 0;
    this.#span = 0;
    this.#count = 0;
    this.#aside = undefined;
  }

  /** Keeps the ring mostly full: old deliveries still unsettled behind many holes move aside. */
  #keepDense(): void {
    const mask = this.#slots.length - 1;
    while (this.#span > this.#count * 4 + MAX_GAP) {
      const d = this.#slots[this.#head];
      if (d !== undefined) {
        (this.#aside ??= new Map()).set(this.#base, d);
        this.#slots[this.#head] = undefined;
        this.#count--;
      }
      this.#head = (this.#head + 1) & mask;
      this.#base = serialAdd(this.#base, 1);
      this.#span--;
    }
  }

  #grow(): void {
    const old = this.#slots;
    const slots = objectSlots<EngineDelivery>(old.length * 2);
    for (let i = 0; i < this.#span; i++) slots[i] = old[(this.#head + i) & (old.length - 1)];
    this.#slots = slots;
    this.#head = 0;
  }
}
