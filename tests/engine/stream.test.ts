/** A delivery whose payload is given in chunks and written as they come (never held whole). */
import { describe, expect, it } from 'vitest';
import { pump, senderPair } from '../support/engine-pair.js';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

describe('engine: streamed outgoing deliveries', () => {
  it('chunks given over time arrive as one delivery, in order, and each chunk is reported written', () => {
    const { c, s, link } = senderPair(10, {}, { maxFrameSize: 512 });
    const delivery = link.sendStream();
    const written: number[] = [];
    expect(link.streamChunk(delivery, bytes(1000, 1), false, () => written.push(1))).toBe(true);
    pump(c.engine, s.engine);
    expect(s.events.some((e) => e.type === 'delivery')).toBe(false); // not whole yet
    expect(link.streamChunk(delivery, bytes(700, 2), false, () => written.push(2))).toBe(true);
    expect(link.streamChunk(delivery, bytes(10, 3), true, () => written.push(3))).toBe(true);
    expect(link.streamChunk(delivery, bytes(1, 4), true)).toBe(false); // it has ended
    pump(c.engine, s.engine);
    const got = s.events.filter((e) => e.type === 'delivery');
    expect(got).toHaveLength(1);
    const payload = got[0]!.type === 'delivery' ? Buffer.from(got[0]!.delivery.payload!) : Buffer.alloc(0);
    expect(payload.equals(Buffer.concat([bytes(1000, 1), bytes(700, 2), bytes(10, 3)]))).toBe(true);
    expect(link.credit).toBe(9);
    // The next message goes after it.
    link.send(bytes(5, 9));
    pump(c.engine, s.engine);
    expect(s.events.filter((e) => e.type === 'delivery')).toHaveLength(2);
  });

  it('a streamed delivery aborted half way is dropped by the receiver', () => {
    const { c, s, link } = senderPair(10, {}, { maxFrameSize: 512 });
    const delivery = link.sendStream();
    link.streamChunk(delivery, bytes(2000, 1), false);
    pump(c.engine, s.engine);
    expect(link.abort(delivery)).toBe(true);
    pump(c.engine, s.engine);
    expect(s.events.filter((e) => e.type === 'delivery' || e.type === 'deliveryAborted').map((e) => e.type)).toEqual([
      'deliveryAborted',
    ]);
    expect(link.streamChunk(delivery, bytes(1, 1), true)).toBe(false);
  });
});
