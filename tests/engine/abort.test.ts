/**
 * A sender aborting a delivery whose frames have not all gone out (spec 2.6.12): the peer gets a
 * last transfer saying aborted and drops what it had; a delivery none of whose frames went out
 * is taken back whole, with its credit; one written whole cannot be aborted.
 */
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/codec/message.js';
import type { EngineSession } from '../../src/engine/session.js';
import { pump, senderPair } from '../support/engine-pair.js';

/** Lets only `n` more transfer frames out (the peer's session window, as if it had said so). */
function holdWindow(session: EngineSession, n: number): void {
  (session as unknown as { remoteIncomingWindow: number }).remoteIncomingWindow = n;
}

describe('engine: aborting an outgoing delivery', () => {
  it('mid-transfer: the peer drops what it got (a deliveryAborted event, no delivery), and the next message arrives whole', () => {
    const { c, s, session, link } = senderPair(10, {}, { maxFrameSize: 512 });
    holdWindow(session, 2);
    const big = link.send(encodeMessage({ body: 'x'.repeat(5000) }));
    expect(big.offset).toBeGreaterThan(0); // two frames went out
    expect(link.abort(big)).toBe(true);
    holdWindow(session, 100);
    session.pump();
    const next = encodeMessage({ body: 'after' });
    link.send(next);
    pump(c.engine, s.engine);
    const types = s.events.map((e) => e.type).filter((t) => t === 'delivery' || t === 'deliveryAborted');
    expect(types).toEqual(['deliveryAborted', 'delivery']);
    const delivered = s.events.find((e) => e.type === 'delivery');
    expect(delivered?.type === 'delivery' && Buffer.from(delivered.delivery.payload!).equals(Buffer.from(next))).toBe(
      true,
    );
    expect(big.settled).toBe(true);
    expect(link.credit).toBe(8); // both used credit: an aborted delivery counts
  });

  it('before any frame went out: taken back whole with its credit, and the peer sees nothing of it', () => {
    const { c, s, session, link } = senderPair(10, {}, { maxFrameSize: 512 });
    holdWindow(session, 0);
    const held = link.send(encodeMessage({ body: 'never' }));
    expect(link.credit).toBe(9);
    expect(link.abort(held)).toBe(true);
    expect(link.credit).toBe(10);
    holdWindow(session, 100);
    link.send(encodeMessage({ body: 'sent' }));
    pump(c.engine, s.engine);
    expect(s.events.filter((e) => e.type === 'delivery' || e.type === 'deliveryAborted').map((e) => e.type)).toEqual([
      'delivery',
    ]);
    // The receiver's count of deliveries agrees with ours: the next flow gives exact credit.
    const receiving = s.engine.sessions[0]!.links[0]!;
    expect(receiving.deliveryCount).toBe(link.deliveryCount);
  });

  it('a delivery written whole cannot be aborted (its outcome comes as usual)', () => {
    const { link } = senderPair(10);
    const small = link.send(encodeMessage({ body: 'small' }));
    expect(link.abort(small)).toBe(false);
  });
});

describe('a send cancelled mid-transfer', () => {
  it(
    'is aborted on the wire: the receiver drops it (an aborted event, no message) and takes the next one whole',
    { timeout: 20_000 },
    async () => {
      const { connect, listen, TimeoutError } = await import('../../src/index.js');
      type Sender = import('../../src/index.js').Sender;
      const listener = await listen();
      const accepted = new Promise<Sender>((resolve) => {
        void (async () => {
          for await (const link of listener) resolve(link.acceptAsSender());
        })();
      });
      // Small frames and a session window of 2 frames: a large message goes out a little at a time.
      const client = await connect({ url: listener.url, maxFrameSize: 512 });
      try {
        const session = await client.createSession({ incomingWindow: 2 });
        const receiver = await session.createReceiver({ source: 'q', credit: 10 });
        const aborted: string[] = [];
        client.events$.subscribe((e) => {
          if (e.type === 'aborted') aborted.push(e.link.address ?? '');
        });
        const sender = await accepted;
        await expect.poll(() => sender.credit).toBe(10);
        const big = sender.send({ body: new Uint8Array(20 * 1024 * 1024) }, { timeout: 100 });
        await expect(big).rejects.toBeInstanceOf(TimeoutError);
        const after = sender.send({ body: 'after' }, { timeout: 10_000 });
        const next = await receiver.receive({ timeout: 5000 });
        next.accept();
        expect(next.message.body).toBe('after');
        await expect(after).resolves.toEqual({ kind: 'accepted' });
        expect(aborted).toEqual(['q']);
        expect(receiver.buffered).toBe(0);
      } finally {
        await client.close();
        await listener.close();
      }
    },
  );
});
