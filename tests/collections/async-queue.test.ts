import { describe, expect, it } from 'vitest';
import { AsyncQueue } from '../../src/collections/async-queue.js';

/** Whether a promise is still pending once the microtasks queued now have run. */
async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return !settled;
}

describe('AsyncQueue', () => {
  it('hands values over in order, to readers waiting and to readers that come later', async () => {
    const q = new AsyncQueue<number>();
    const first = q.next();
    expect(await isPending(first)).toBe(true);
    q.push(1);
    q.push(2);
    q.push(3);
    expect(await first).toEqual({ value: 1, done: false });
    expect(q.size).toBe(2);
    q.end();
    const seen: number[] = [];
    for await (const v of q) seen.push(v);
    expect(seen).toEqual([2, 3]);
    expect(await q.next()).toEqual({ value: undefined, done: true });
  });

  it('end(): the values queued are read first, then every reader gets done, pending ones included', async () => {
    const q = new AsyncQueue<string>();
    const waiting = [q.next(), q.next()];
    q.end();
    expect(await Promise.all(waiting)).toEqual([
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
    expect(q.push('late')).toBe(false);
    expect(q.size).toBe(0);
  });

  it('fail(): the values queued are read first, then the error once, then done', async () => {
    const q = new AsyncQueue<string>();
    const error = new Error('the link went');
    q.push('a');
    q.fail(error);
    expect(q.push('b')).toBe(false);
    expect(await q.next()).toEqual({ value: 'a', done: false });
    await expect(q.next()).rejects.toBe(error);
    expect(await q.next()).toEqual({ value: undefined, done: true });
  });

  it('fail() with readers waiting: the first gets the error, the others done, none is left pending', async () => {
    const q = new AsyncQueue<string>();
    const error = new Error('aborted');
    const [a, b, c] = [q.next(), q.next(), q.next()];
    q.fail(error);
    await expect(a).rejects.toBe(error);
    expect(await b).toEqual({ value: undefined, done: true });
    expect(await c).toEqual({ value: undefined, done: true });
  });

  it('a for-await loop over a failed queue throws the error after the values queued', async () => {
    const q = new AsyncQueue<number>();
    q.push(1);
    q.fail(new RangeError('broken'));
    const seen: number[] = [];
    const loop = async (): Promise<void> => {
      for await (const v of q) seen.push(v);
    };
    await expect(loop()).rejects.toBeInstanceOf(RangeError);
    expect(seen).toEqual([1]);
  });

  it('return() (a loop left early) drops what is queued, settles pending readers, refuses later pushes and tells the producer', async () => {
    let returned = 0;
    const q = new AsyncQueue<number>({ returned: () => returned++ });
    const pending = q.next();
    q.push(1); // taken by the pending reader
    q.push(2);
    q.push(3);
    for await (const v of q) {
      expect(v).toBe(2);
      break; // for-await calls return()
    }
    expect(await pending).toEqual({ value: 1, done: false });
    expect(returned).toBe(1);
    expect(q.size).toBe(0);
    expect(q.ended).toBe(true);
    expect(q.push(4)).toBe(false);
    expect(await q.next()).toEqual({ value: undefined, done: true });
    const waiting = new AsyncQueue<number>();
    const stuck = waiting.next();
    expect(await waiting.return()).toEqual({ value: undefined, done: true });
    expect(await stuck).toEqual({ value: undefined, done: true });
  });

  it('throw(error) ends the queue as return() does, and rejects with the error', async () => {
    let returned = 0;
    const q = new AsyncQueue<number>({ returned: () => returned++ });
    const pending = q.next();
    q.push(1);
    q.push(2);
    const error = new Error('the reader gave up');
    await expect(q.throw(error)).rejects.toBe(error);
    expect(await pending).toEqual({ value: 1, done: false });
    expect(returned).toBe(1);
    expect(q.size).toBe(0);
    expect(q.push(3)).toBe(false);
    expect(await q.next()).toEqual({ value: undefined, done: true });
  });

  it('back-pressure: taken reports each value as a reader takes it, whether it waited or was queued', async () => {
    const taken: number[] = [];
    const q = new AsyncQueue<number>({ taken: (v) => taken.push(v) });
    const waiting = q.next();
    q.push(1); // straight to the waiting reader
    q.push(2);
    q.push(3);
    expect(taken).toEqual([1]);
    expect(q.size).toBe(2);
    await waiting;
    await q.next();
    expect(taken).toEqual([1, 2]);
    expect(q.size).toBe(1);
    expect(q.clear()).toEqual([3]); // taken out by the producer, not by a reader
    expect(taken).toEqual([1, 2]);
    expect(q.size).toBe(0);
  });

  it('a value already queued costs one resolved promise and its result, nothing more', async () => {
    const q = new AsyncQueue<object>();
    const value = {};
    q.push(value);
    const result = q.next();
    expect(await isPending(result)).toBe(false);
    expect(await result).toEqual({ value, done: false });
  });
});
