/**
 * A queue read as an async iterator: a producer pushes values (and at last ends it, or fails it),
 * a reader takes them with `next()` or `for await`, waiting when none is queued. The one helper
 * behind every queue-backed async iterable of Quark (a listener's incoming links, a streamed
 * body's chunks).
 *
 * - Values queued before an `end()` or `fail()` are still read; then the reader gets done, or the
 *   error once (and done after it).
 * - `return()` (a `for await` left early) ends the queue for its producer too: what was queued is
 *   dropped and later pushes are refused. `throw(error)` does the same, then rejects with `error`.
 * - Every pending `next()` settles when the queue ends, fails or is returned: none is left behind.
 * - Back-pressure is the producer's: `taken` reports each value as a reader takes it, `size`
 *   says how many wait.
 */
import { Fifo } from './fifo.js';

/** What the queue tells its producer. */
export interface AsyncQueueHooks<T> {
  /** A reader took `value` (e.g. to count what is still buffered, and let a held source go on). */
  taken?: ((value: T) => void) | undefined;
  /** The reader is done (`return()` or `throw()`): what was queued is dropped and nothing more is read. */
  returned?: (() => void) | undefined;
}

interface Waiter<T> {
  resolve: (result: IteratorResult<T, undefined>) => void;
  reject: (error: unknown) => void;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

export class AsyncQueue<T> implements AsyncIterableIterator<T, undefined> {
  readonly #values = new Fifo<T>();
  readonly #waiters = new Fifo<Waiter<T>>();
  readonly #hooks: AsyncQueueHooks<T>;
  #ended = false;
  /** Set by `fail()` until a reader has been given it. */
  #failure: { error: unknown } | undefined;

  constructor(hooks: AsyncQueueHooks<T> = {}) {
    this.#hooks = hooks;
  }

  /** Values waiting for a reader. */
  get size(): number {
    return this.#values.size;
  }

  /** Whether the producer may push no more (ended, failed or returned). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Hands `value` to a waiting reader, or queues it. Returns false, keeping nothing, once the queue has ended. */
  push(value: T): boolean {
    if (this.#ended) return false;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#values.push(value);
      return true;
    }
    this.#hooks.taken?.(value);
    waiter.resolve({ value, done: false });
    return true;
  }

  /** No more values: readers get those queued, then done. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) w.resolve(DONE);
  }

  /** Ends with `error`: readers get the values queued, then `error` (once), then done. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failure = { error };
    // Waiters exist only while nothing is queued: the first gets the error, the others done.
    const first = this.#waiters.shift();
    if (first === undefined) return;
    this.#failure = undefined;
    first.reject(error);
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) w.resolve(DONE);
  }

  /** Takes every value waiting (e.g. to refuse them when closing); `taken` is not told of them. */
  clear(): T[] {
    return this.#values.drain();
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#values.size > 0) {
      const value = this.#values.shift()!;
      this.#hooks.taken?.(value);
      return Promise.resolve({ value, done: false });
    }
    const failure = this.#failure;
    if (failure !== undefined) {
      this.#failure = undefined;
      return Promise.reject(failure.error);
    }
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise<IteratorResult<T, undefined>>((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The reader is done: drops what is queued, ends the queue, and tells the producer. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#stop();
    return Promise.resolve(DONE);
  }

  /** As `return()`, then rejects with `error` (as a generator that does not catch it). */
  throw(error?: unknown): Promise<IteratorResult<T, undefined>> {
    this.#stop();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #stop(): void {
    this.#values.drain();
    this.#failure = undefined;
    this.end();
    this.#hooks.returned?.();
  }
}
