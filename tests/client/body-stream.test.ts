import { describe, expect, it } from 'vitest';
import { BodyStream } from '../../src/client/body-stream.js';
import { DeliveryAbortedError } from '../../src/errors.js';

/** A data section of `size` bytes (vbin32), whole. */
function dataSection(size: number, fill: number): Buffer {
  const header = Buffer.from([0x00, 0x53, 0x75, 0xb0, 0, 0, 0, 0]);
  header.writeUInt32BE(size, 4);
  return Buffer.concat([header, Buffer.alloc(size, fill)]);
}

describe('a streamed body', () => {
  it('holds the session window while the reader is more than its limit behind, and lets it go as the reader catches up', async () => {
    const holds: boolean[] = [];
    const stream = new BodyStream('native', (held) => holds.push(held), 100);
    expect(stream.push(dataSection(60, 1))).toBe(true); // the head is complete: handed over
    stream.push(dataSection(60, 2));
    expect(holds).toEqual([true]);
    const reader = stream[Symbol.asyncIterator]();
    expect((await reader.next()).value).toHaveLength(60);
    expect(holds).toEqual([true]); // 60 bytes still wait: more than half the limit
    expect((await reader.next()).value).toHaveLength(60);
    expect(holds).toEqual([true, false]);
  });

  it('a reader that leaves its loop early drops the rest of the body and lets the window go', async () => {
    const holds: boolean[] = [];
    const stream = new BodyStream('native', (held) => holds.push(held), 100);
    stream.push(dataSection(150, 1));
    stream.push(dataSection(150, 2));
    expect(holds).toEqual([true]);
    for await (const chunk of stream) {
      expect(chunk).toHaveLength(150);
      break;
    }
    expect(holds).toEqual([true, false]);
    stream.push(dataSection(150, 3)); // what still arrives is dropped, not held for nobody
    expect(holds).toEqual([true, false]);
  });

  it('an aborted delivery: the reader gets the bytes that came, then DeliveryAbortedError', async () => {
    const stream = new BodyStream('native', () => undefined);
    stream.push(dataSection(10, 1));
    stream.fail(new DeliveryAbortedError('aborted by the sender'));
    const got: number[] = [];
    const read = async (): Promise<void> => {
      for await (const chunk of stream) got.push(chunk.length);
    };
    await expect(read()).rejects.toBeInstanceOf(DeliveryAbortedError);
    expect(got).toEqual([10]);
  });
});
