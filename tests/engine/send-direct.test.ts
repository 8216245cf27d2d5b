import { describe, expect, it } from 'vitest';
import { writeMessage } from '../../src/codec/message.js';
import { EncodeError } from '../../src/errors.js';
import type { EngineLink } from '../../src/engine/link.js';
import { pump, senderPair } from '../support/engine-pair.js';

function attachedSender(maxFrameSize?: number): { link: EngineLink; received: () => Uint8Array[]; flush: () => void } {
  const { c, s, link } = senderPair(10, {}, maxFrameSize === undefined ? {} : { maxFrameSize });
  return {
    link,
    flush: () => pump(c.engine, s.engine),
    received: () => s.events.flatMap((e) => (e.type === 'delivery' ? [e.delivery.payload!] : [])),
  };
}

describe('engine: a message encoded straight into its transfer frame', () => {
  it('arrives byte for byte as if it had been encoded first, and uses one credit', () => {
    const { link, received, flush } = attachedSender();
    expect(link.canSendDirect).toBe(true);
    const sent = link.sendDirect((w) => writeMessage(w, { subject: 'direct', body: 'hello' }));
    expect(sent).not.toBeInstanceOf(Uint8Array);
    expect(link.credit).toBe(9);
    flush();
    expect(received()).toHaveLength(1);
  });

  it('a payload too large for one frame is handed back, with nothing sent and no credit used', () => {
    const { link, received, flush } = attachedSender(512);
    const big = 'x'.repeat(2000);
    const back = link.sendDirect((w) => writeMessage(w, { body: big }));
    expect(back).toBeInstanceOf(Uint8Array);
    expect(link.credit).toBe(10);
    link.send(back as Uint8Array);
    flush();
    expect(received()).toHaveLength(1);
    expect(Buffer.compare(Buffer.from(received()[0]!), Buffer.from(back as Uint8Array))).toBe(0);
  });

  it('an encoding error leaves nothing written and no credit used', () => {
    const { link, received, flush } = attachedSender();
    expect(() => link.sendDirect((w) => writeMessage(w, { body: (() => 1) as never }))).toThrow(EncodeError);
    expect(link.credit).toBe(10);
    link.sendDirect((w) => writeMessage(w, { body: 'after' }));
    flush();
    expect(received()).toHaveLength(1);
  });
});
