import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/collections/buffer-pool.js';

describe('BufferPool', () => {
  it('reuses a given-back buffer for a request it fits (not much larger), and makes new ones otherwise', () => {
    const pool = new BufferPool(4, 1 << 30);
    const a = pool.take(100_000);
    expect(a.length).toBe(100_000);
    pool.give(a.subarray(10, 20)); // a view gives back its whole buffer
    expect(pool.size).toBe(1);
    const tooSmall = pool.take(200_000);
    expect(tooSmall.buffer).not.toBe(a.buffer);
    const tooLarge = pool.take(10_000); // 100,000 bytes is far more than 10,000 needs
    expect(tooLarge.buffer).not.toBe(a.buffer);
    const reused = pool.take(90_000);
    expect(reused.buffer).toBe(a.buffer);
    expect(reused.length).toBe(100_000);
    expect(pool.size).toBe(0);
  });

  it('keeps no more buffers or bytes than its limits, and refuses a buffer given back twice', () => {
    const pool = new BufferPool(2, 250_000);
    const bufs = [pool.take(100_000), pool.take(100_000), pool.take(100_000)];
    for (const b of bufs) pool.give(b);
    expect(pool.size).toBe(2);
    const small = new BufferPool(8, 150_000);
    small.give(Buffer.allocUnsafeSlow(100_000));
    small.give(Buffer.allocUnsafeSlow(100_000)); // would exceed 150,000 bytes
    expect(small.size).toBe(1);
    const b = pool.take(100_000);
    pool.give(b);
    expect(() => pool.give(b)).toThrow(/twice/);
  });
});
