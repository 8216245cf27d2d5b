/** A streaming receiver hands a delivery over before it is whole, and its data body as it arrives. */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryAbortedError, connect, listen, type Connection, type Listener, type Sender } from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

async function* chunks(count: number, size: number, failAt = -1): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    if (i === failAt) throw new Error('the source failed');
    yield new Uint8Array(size).fill(i & 0xff);
  }
}

const digest = async (source: AsyncIterable<Uint8Array>): Promise<{ hash: string; size: number }> => {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of source) {
    h.update(c);
    size += c.length;
  }
  return { hash: h.digest('hex'), size };
};

/** A listener whose links are accepted as streaming receivers, and a client sender to it. */
async function streamingPair(): Promise<{ sender: Sender; receiver: Promise<import('../../src/index.js').Receiver> }> {
  listener = await listen();
  const receiver = new Promise<import('../../src/index.js').Receiver>((resolve) => {
    void (async () => {
      for await (const link of listener!) resolve(link.acceptAsReceiver({ credit: 10, streaming: true }));
    })();
  });
  client = await connect(listener.url);
  return { sender: await client.createSender('big'), receiver };
}

describe('a streaming receiver', () => {
  it(
    'hands a streamed message over before it is whole: its properties at once, its body as it arrives, byte for byte',
    { timeout: 30_000 },
    async () => {
      const { sender, receiver } = await streamingPair();
      const sent = sender.send({ subject: 'backup', applicationProperties: { part: 1 }, body: chunks(64, 256 * 1024) });
      const r = await receiver;
      const delivery = await r.receive({ timeout: 5000 });
      expect(delivery.message.subject).toBe('backup');
      expect(delivery.message.applicationProperties).toEqual({ part: 1 });
      const got = await digest(delivery.stream());
      const want = await digest(chunks(64, 256 * 1024));
      expect(got).toEqual(want);
      delivery.accept();
      await expect(sent).resolves.toEqual({ kind: 'accepted' });
    },
  );

  it(
    'a message sent whole (an amqp-value body) is handed over whole; stream() then ends at once',
    { timeout: 10_000 },
    async () => {
      const { sender, receiver } = await streamingPair();
      const sent = sender.send({ body: { small: true } });
      const delivery = await (await receiver).receive({ timeout: 5000 });
      expect(delivery.message.body).toEqual({ small: true });
      expect((await digest(delivery.stream())).size).toBe(0);
      delivery.accept();
      await sent;
      // One in many transfers (a 3 MB string), joined once its last transfer came.
      const large = 'abc'.repeat(1_000_000);
      const sentLarge = sender.send({ body: large });
      const whole = await (await receiver).receive({ timeout: 5000 });
      expect(whole.message.body).toBe(large);
      whole.accept();
      await sentLarge;
    },
  );

  it(
    'a message aborted by its sender half way makes stream() throw DeliveryAbortedError',
    { timeout: 30_000 },
    async () => {
      const { sender, receiver } = await streamingPair();
      const sent = sender.send({ body: chunks(64, 256 * 1024, 30) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const delivery = await (await receiver).receive({ timeout: 5000 });
      await expect(digest(delivery.stream())).rejects.toBeInstanceOf(DeliveryAbortedError);
      expect(((await sent) as Error).message).toMatch(/the source failed/);
    },
  );
});
