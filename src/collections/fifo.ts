import { objectSlots } from './object-slots.js';

/**
 * A first-in first-out queue on a ring buffer. Unlike an array used with `push()`/`shift()` (or
 * emptied with `length = 0`), it keeps its storage when it runs empty, so a queue that fills and
 * drains on every turn allocates nothing once it has grown to its working size.
 */
export class Fifo<T> {
  #items: (T | undefined)[] = objectSlots<T>(8);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = item;
    this.#size++;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#size--;
    return item;
  }

  /** The oldest item, left in place, or undefined when empty. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /** Removes the first occurrence of `item` (e.g. a cancelled waiter); keeps the order of the others. */
  delete(item: T): boolean {
    const mask = this.#items.length - 1;
    for (let i = 0; i < this.#size; i++) {
      if (this.#items[(this.#head + i) & mask] !== item) continue;
      for (let j = i; j < this.#size - 1; j++)
        this.#items[(this.#head + j) & mask] = this.#items[(this.#head + j + 1) & mask];
      this.#items[(this.#head + this.#size - 1) & mask] = undefined;
      this.#size--;
      return true;
    }
    return false;
  }

  /** Removes every item and returns them, oldest first. */
  drain(): T[] {
    const out = new Array<T>(this.#size);
    for (let i = 0; i < out.length; i++) out[i] = this.shift()!;
    return out;
  }

  *[Symbol.iterator](): Iterator<T> {
    const mask = this.#items.length - 1;
    for (let i = 0; i < this.#size; i++) yield this.#items[(this.#head + i) & mask]!;
  }

  #grow(): void {
    const old = this.#items;
    const items = objectSlots<T>(old.length * 2);
    for (let i = 0; i < this.#size; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}
