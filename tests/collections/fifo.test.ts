import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/collections/fifo.js';

describe('Fifo', () => {
  it('keeps order through growth and wrap-around, and against a plain array model', () => {
    const fifo = new Fifo<number>();
    const model: number[] = [];
    let next = 0;
    // Seeded pattern of pushes and shifts that wraps the ring many times and grows it twice.
    for (let round = 0; round < 2000; round++) {
      const pushes = (round * 7) % 23;
      const shifts = (round * 5) % 19;
      for (let i = 0; i < pushes; i++) {
        fifo.push(next);
        model.push(next++);
      }
      for (let i = 0; i < shifts; i++) expect(fifo.shift()).toBe(model.shift());
      expect(fifo.size).toBe(model.length);
      expect(fifo.peek()).toBe(model[0]);
    }
    expect([...fifo]).toEqual(model);
    expect(fifo.drain()).toEqual(model);
    expect(fifo.size).toBe(0);
    expect(fifo.shift()).toBeUndefined();
  });

  it('deletes one item from the middle, keeping the others in order', () => {
    const fifo = new Fifo<string>();
    for (const s of ['a', 'b', 'c', 'd']) fifo.push(s);
    fifo.shift();
    fifo.push('e');
    expect(fifo.delete('c')).toBe(true);
    expect(fifo.delete('zz')).toBe(false);
    expect(fifo.drain()).toEqual(['b', 'd', 'e']);
  });
});
