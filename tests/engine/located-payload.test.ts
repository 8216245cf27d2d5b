/**
 * A message received whole in one frame keeps its payload where it arrived: the delivery records
 * where it lies in the frame, and a view of it is made only when `payload` is read (the client
 * decodes the message straight from the frame). Every other shape is assembled as before.
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage, decodeMessageIn, encodeMessage } from '../../src/codec/message.js';
import { DecodeError } from '../../src/errors.js';
import type { EngineDelivery } from '../../src/engine/delivery.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { pump, senderPair } from '../support/engine-pair.js';

function received(events: EngineEvent[]): EngineDelivery[] {
  return events.flatMap((e) => (e.type === 'delivery' ? [e.delivery] : []));
}

describe('engine: a payload received whole in one frame', () => {
  it('is located in its frame, made a view of when first read, and is the bytes sent', () => {
    const { c, s, link } = senderPair(10);
    const bytes = encodeMessage({ body: Buffer.from('located') });
    link.send(bytes);
    pump(c.engine, s.engine);
    const [delivery] = received(s.events);
    expect(delivery!.payloadFrame).toBeDefined();
    const frame = delivery!.payloadFrame!;
    expect(Buffer.from(frame.subarray(delivery!.payloadStart, delivery!.payloadEnd))).toEqual(bytes);
    const payload = delivery!.payload!;
    expect(Buffer.from(payload)).toEqual(bytes);
    expect(payload.buffer).toBe(frame.buffer); // a view, not a copy
    expect(delivery!.payloadFrame).toBeUndefined(); // made once
    expect(delivery!.payload).toBe(payload);
  });

  it('decodes, from the frame, to what the payload alone decodes to', () => {
    const { c, s, link } = senderPair(10);
    const message = { messageId: 'm-1', subject: 's', applicationProperties: { n: 1 }, body: { a: [1, 'x'] } };
    link.send(encodeMessage(message));
    link.send(encodeMessage({ body: Buffer.from([1, 2, 3]) }));
    pump(c.engine, s.engine);
    const [first, second] = received(s.events);
    const fromFrame = decodeMessageIn(first!.payloadFrame!, first!.payloadStart, first!.payloadEnd);
    expect(fromFrame).toEqual(decodeMessage(first!.payload!));
    expect(fromFrame).toMatchObject(message);
    const binary = decodeMessageIn(second!.payloadFrame!, second!.payloadStart, second!.payloadEnd).body as Buffer;
    expect(Buffer.isBuffer(binary)).toBe(true);
    expect([...binary]).toEqual([1, 2, 3]);
  });

  it('reports a malformed message with offsets in the message, not in the frame', () => {
    const { c, s, link } = senderPair(10);
    const bad = Buffer.from('0053770a', 'hex'); // an amqp-value section holding 0x0a, no type's code
    link.send(bad);
    pump(c.engine, s.engine);
    const [delivery] = received(s.events);
    const frame = delivery!.payloadFrame!;
    const fromFrame = catchError(() => decodeMessageIn(frame, delivery!.payloadStart, delivery!.payloadEnd));
    const alone = catchError(() => decodeMessage(bad));
    expect(fromFrame).toBeInstanceOf(DecodeError);
    expect(fromFrame.message).toBe(alone.message);
    expect((fromFrame as DecodeError).offset).toBe((alone as DecodeError).offset);
  });

  it('is not located when the message spans frames', () => {
    const { c, s, link } = senderPair(10, {}, { maxFrameSize: 512 });
    const big = encodeMessage({ body: Buffer.alloc(2000, 7) });
    link.send(big);
    pump(c.engine, s.engine);
    const [delivery] = received(s.events);
    expect(delivery!.payloadFrame).toBeUndefined();
    expect(Buffer.from(delivery!.payload!)).toEqual(big);
  });

  it('is handed over as a chunk when the link streams what it receives', () => {
    const { c, s, link } = senderPair(10);
    s.engine.sessions[0]!.links[0]!.streamIncoming = true;
    const bytes = encodeMessage({ body: Buffer.from('streamed') });
    link.send(bytes);
    pump(c.engine, s.engine);
    const chunks = s.events.flatMap((e) => (e.type === 'deliveryChunk' ? [e] : []));
    expect(chunks.map((e) => [Buffer.from(e.chunk).toString('hex'), e.last])).toEqual([
      [Buffer.from(bytes).toString('hex'), false],
      ['', true],
    ]);
    expect(received(s.events)).toEqual([]);
  });

  it("counts against the receiving link's max-message-size: past it, the link is detached", () => {
    const { c, s, link } = senderPair(10);
    const serverLink = s.engine.sessions[0]!.links[0]!;
    serverLink.local = { ...serverLink.local, maxMessageSize: 64n };
    link.send(encodeMessage({ body: Buffer.alloc(32) }));
    link.send(encodeMessage({ body: Buffer.alloc(100) }));
    pump(c.engine, s.engine);
    expect(received(s.events)).toHaveLength(1);
    const error = s.events.find((e) => e.type === 'linkLocalError');
    expect(error?.type === 'linkLocalError' && error.error.condition).toBe('amqp:link:message-size-exceeded');
  });

  it('is empty, not missing, for a transfer that carries no payload, by either reader', () => {
    const { c, s, link } = senderPair(10, {}, { maxFrameSize: 512 });
    link.send(new Uint8Array(0));
    pump(c.engine, s.engine); // a whole frame: the fast reader's
    link.send(new Uint8Array(0));
    pump(c.engine, s.engine, 7); // in pieces: the frame spans chunks, so the generic reader takes it
    const deliveries = received(s.events);
    expect(deliveries).toHaveLength(2);
    for (const delivery of deliveries) {
      expect(delivery.payloadFrame).toBeUndefined();
      expect(delivery.payload).toEqual(new Uint8Array(0));
    }
  });

  it('setting the payload replaces the location', () => {
    const { c, s, link } = senderPair(10);
    link.send(encodeMessage({ body: 'x' }));
    pump(c.engine, s.engine);
    const [delivery] = received(s.events);
    const replacement = new Uint8Array([0x00, 0x53, 0x77, 0x40]);
    delivery!.payload = replacement;
    expect(delivery!.payloadFrame).toBeUndefined();
    expect(delivery!.payload).toBe(replacement);
  });
});

function catchError(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}
