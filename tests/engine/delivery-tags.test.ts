import { describe, expect, it } from 'vitest';
import { writeMessage } from '../../src/codec/message.js';
import { pump, senderPair } from '../support/engine-pair.js';

describe('engine: delivery tags the link makes', () => {
  it('are unique, as short as they can be, and arrive as the bytes the sender reports, by either send path', () => {
    const count = 0x10000 + 3;
    const { c, s, link } = senderPair(count);

    const sentTags: string[] = [];
    for (let i = 0; i < count; i++) {
      const d = i % 2 === 0 ? link.send(Uint8Array.of(0x40)) : link.sendDirect((w) => writeMessage(w, { body: null }));
      if (d instanceof Uint8Array) throw new Error('a tiny message must fit one frame');
      // Settle at once so the session's unsettled map stays small; the tag stays readable.
      d.settle();
      sentTags.push(Buffer.from(d.tag).toString('hex'));
      if (i % 1000 === 0) pump(c.engine, s.engine);
    }
    pump(c.engine, s.engine);

    // A received tag is located in its frame and made a view of when first asked for: its
    // length is known before that, and it is the same bytes after.
    const receivedLengths = s.events.flatMap((e) => (e.type === 'delivery' ? [e.delivery.tagLength] : []));
    const receivedTags = s.events.flatMap((e) =>
      e.type === 'delivery' ? [Buffer.from(e.delivery.tag).toString('hex')] : [],
    );
    expect(receivedTags).toEqual(sentTags);
    expect(receivedLengths).toEqual(sentTags.map((hex) => hex.length / 2));
    expect(sentTags[0]).toBe('00');
    expect(sentTags[0xff]).toBe('ff');
    expect(sentTags[0x100]).toBe('0100');
    expect(sentTags[0xffff]).toBe('ffff');
    expect(sentTags[0x10000]).toBe('00010000');
    expect(new Set(sentTags).size).toBe(count);
  });
});
