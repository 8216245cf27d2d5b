import { describe, expect, it } from 'vitest';
import type { EngineDelivery } from '../../src/engine/delivery.js';
import { UnsettledDeliveries } from '../../src/engine/unsettled-deliveries.js';
import { SeededRandom } from '../support/seeded-random.js';

/** A stand-in delivery: the collection only stores and returns it. */
const delivery = (id: number): EngineDelivery => ({ id }) as unknown as EngineDelivery;

describe('UnsettledDeliveries', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`behaves like a Map under in-order adds, out-of-order settles, stragglers, gaps and wrap-around (seed ${seed})`, () => {
      const rnd = new SeededRandom(seed);
      const ring = new UnsettledDeliveries();
      const model = new Map<number, EngineDelivery>();
      // Start near 2^32 so that ids wrap around during the run.
      let next = (0xffffffff - 3000) >>> 0;
      for (let step = 0; step < 20_000; step++) {
        const r = rnd.next();
        if (r < 0.5) {
          // The next id, sometimes after a gap (pre-settled deliveries are never stored), rarely a huge one.
          const gap =
            rnd.next() < 0.1
              ? Math.floor(rnd.next() * 50)
              : rnd.next() < 0.002
                ? 5000 + Math.floor(rnd.next() * 100_000)
                : 0;
          next = (next + gap) >>> 0;
          const d = delivery(next);
          ring.set(next, d);
          model.set(next, d);
          next = (next + 1) >>> 0;
        } else if (r < 0.95 && model.size > 0) {
          // Settle one: mostly among the oldest, sometimes any, leaving stragglers behind.
          const ids = [...model.keys()];
          const pick =
            rnd.next() < 0.8
              ? ids[Math.floor(rnd.next() * Math.min(8, ids.length))]!
              : ids[Math.floor(rnd.next() * ids.length)]!;
          expect(ring.delete(pick)).toBe(true);
          model.delete(pick);
          expect(ring.delete(pick)).toBe(false);
        } else {
          // Look up a few ids, present or not.
          for (let k = 0; k < 3; k++) {
            const id = (next - Math.floor(rnd.next() * 3000)) >>> 0;
            expect(ring.get(id)).toBe(model.get(id));
          }
        }
        expect(ring.size).toBe(model.size);
      }
      expect(new Set(ring.values())).toEqual(new Set(model.values()));
    });
  }

  it('lets the walk delete the delivery it is visiting, and visits every other one once', () => {
    const ring = new UnsettledDeliveries();
    for (let id = 0; id < 100; id++) ring.set(id, delivery(id));
    const visited: number[] = [];
    for (const d of ring.values()) {
      visited.push(d.id);
      if (d.id % 3 !== 1) ring.delete(d.id);
    }
    expect(visited).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...ring.values()].map((d) => d.id)).toEqual(
      Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 3 === 1),
    );
  });

  it('does not grow with the ids that pass while one delivery stays unsettled', () => {
    const ring = new UnsettledDeliveries();
    ring.set(0, delivery(0)); // never settled
    for (let id = 1; id < 1_000_000; id++) {
      ring.set(id, delivery(id));
      ring.delete(id);
    }
    expect(ring.size).toBe(1);
    expect(ring.get(0)?.id).toBe(0);
    expect(ring.capacity).toBeLessThanOrEqual(4096);
    ring.delete(0);
    expect(ring.size).toBe(0);
  });
});
