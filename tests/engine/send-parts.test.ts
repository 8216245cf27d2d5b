/**
 * A delivery given in parts (a large body by reference between its encoded head and footer) is
 * framed exactly as the same bytes given as one buffer: every frame full but the last, the body's
 * bytes referenced in the output, not copied.
 */
import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../src/engine/events.js';
import { senderPair } from '../support/engine-pair.js';

/** The sizes of the AMQP frames in `bytes` (whole frames only). */
function frameSizes(bytes: Buffer): number[] {
  const sizes: number[] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    const size = bytes.readUInt32BE(at);
    sizes.push(size);
    at += size;
  }
  return sizes;
}

describe('a delivery sent in parts', () => {
  it('is framed as one payload (full frames), references its large part, and arrives as the parts joined', () => {
    const { c, s, link } = senderPair(10, {}, { maxFrameSize: 16384 });
    const head = Buffer.alloc(100, 1);
    const body = Buffer.alloc(40_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const tail = Buffer.alloc(30, 9);
    link.send([head, body, tail]);
    const chunks = c.engine.takeOutputChunks()!;
    // The body's bytes go out as views of the caller's buffer, not as copies.
    expect(chunks.some((chunk) => chunk.buffer === body.buffer)).toBe(true);
    const wire = Buffer.concat(chunks);
    // The same bytes as one buffer, on a pair of their own: the same frames, byte for byte.
    const whole = senderPair(10, {}, { maxFrameSize: 16384 });
    whole.link.send(Buffer.concat([head, body, tail]));
    const wholeWire = whole.c.engine.takeOutput()!;
    expect(frameSizes(wire)).toEqual(frameSizes(wholeWire));
    expect(frameSizes(wire)).toHaveLength(3); // 40,130 bytes in frames of at most 16,384
    expect(Buffer.compare(wire, wholeWire)).toBe(0);
    s.engine.ingest(wire);
    const delivered = s.events.find((e): e is Extract<EngineEvent, { type: 'delivery' }> => e.type === 'delivery');
    expect(delivered).toBeDefined();
    expect(Buffer.compare(Buffer.from(delivered!.delivery.payload!), Buffer.concat([head, body, tail]))).toBe(0);
  });
});
