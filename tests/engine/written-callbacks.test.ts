import { describe, expect, it } from 'vitest';
import { pump, senderPair } from '../support/engine-pair.js';

describe('engine: a delivery’s onWritten callback', () => {
  it('comes with the output that holds the delivery’s last frame, not before, and only once', () => {
    const { c, s, link } = senderPair(1, { maxFrameSize: 512 }, { maxFrameSize: 512 });

    let calls = 0;
    // 20,000 bytes in frames of at most 512: some 45 frames, more than one session window of the
    // peer allows at once if its window were small; here all go out in one output.
    link.send(new Uint8Array(20_000).fill(7), { onWritten: () => calls++ });
    const first = c.engine.takeOutputChunks();
    expect(first).toBeDefined();
    const callbacks = c.engine.takeWrittenCallbacks();
    expect(callbacks).toHaveLength(1);
    expect(c.engine.takeWrittenCallbacks()).toBeUndefined(); // taken once
    expect(calls).toBe(0); // the engine never calls it: whoever writes the output does
    callbacks![0]!();
    expect(calls).toBe(1);
    for (const chunk of first!) s.engine.ingest(chunk);
    pump(c.engine, s.engine);
    const delivered = s.events.flatMap((e) => (e.type === 'delivery' ? [e.delivery.payload!] : []));
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.length).toBe(20_000);
  });

  it('waits while the peer’s session window holds back the last frames', () => {
    const { c, session, link } = senderPair(1, {}, { maxFrameSize: 512 });
    // Only 3 more transfer frames may go out now.
    (session as unknown as { remoteIncomingWindow: number }).remoteIncomingWindow = 3;
    let calls = 0;
    link.send(new Uint8Array(5000), { onWritten: () => calls++ });
    c.engine.takeOutputChunks();
    expect(c.engine.takeWrittenCallbacks()).toBeUndefined();
    (session as unknown as { remoteIncomingWindow: number }).remoteIncomingWindow = 100;
    session.pump();
    c.engine.takeOutputChunks();
    const callbacks = c.engine.takeWrittenCallbacks();
    expect(callbacks).toHaveLength(1);
    callbacks![0]!();
    expect(calls).toBe(1);
  });
});
