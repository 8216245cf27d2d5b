/** A message body given as an AsyncIterable of bytes is sent as data sections, chunk by chunk. */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';

let broker: Broker | undefined;
let conn: Connection | undefined;
afterEach(async () => {
  await conn?.close();
  await broker?.close();
  conn = undefined;
  broker = undefined;
});

async function* chunks(count: number, size: number, failAt = -1): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    if (i === failAt) throw new Error('the source failed');
    yield new Uint8Array(size).fill(i & 0xff);
  }
}

const hash = (parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('a streamed body', () => {
  it('arrives whole, as one data section per chunk, with the sections before it', { timeout: 30_000 }, async () => {
    broker = await startBroker({ port: 0 });
    conn = await connect(broker.url);
    const sender = await conn.createSender('stream');
    const result = await sender.send({
      subject: 'big',
      applicationProperties: { n: 32 },
      body: chunks(32, 256 * 1024),
    });
    expect(result).toEqual({ kind: 'accepted' });
    const receiver = await conn.createReceiver('stream');
    const d = await receiver.receive({ timeout: 5000 });
    d.accept();
    expect(d.message.subject).toBe('big');
    expect(d.message.applicationProperties).toEqual({ n: 32 });
    expect(d.message.bodyType).toBe('data');
    const body = d.message.body as Uint8Array[];
    expect(body).toHaveLength(32);
    const expected: Uint8Array[] = [];
    for await (const c of chunks(32, 256 * 1024)) expected.push(c);
    expect(hash(body)).toBe(hash(expected));
  });

  it(
    'a source that fails half way aborts the delivery: the send rejects with its error and nothing is stored',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      conn = await connect(broker.url);
      const sender = await conn.createSender('stream-fail');
      await expect(sender.send({ body: chunks(64, 256 * 1024, 20) })).rejects.toThrow(/the source failed/);
      await expect(sender.send({ body: 'next' })).resolves.toEqual({ kind: 'accepted' });
      expect(broker.queue('stream-fail')?.depth).toBe(1);
      const receiver = await conn.createReceiver('stream-fail');
      expect((await receiver.receive({ timeout: 5000 })).message.body).toBe('next');
    },
  );

  it(
    'a streamed send aborted by its signal rejects with AbortError and leaves nothing',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      conn = await connect(broker.url);
      const sender = await conn.createSender('stream-abort');
      const controller = new AbortController();
      async function* slow(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 100; i++) {
          if (i === 5) controller.abort();
          yield new Uint8Array(64 * 1024);
        }
      }
      await expect(sender.send({ body: slow() }, { signal: controller.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
      await expect(sender.send({ body: 'after' })).resolves.toEqual({ kind: 'accepted' });
      expect(broker.queue('stream-abort')?.depth).toBe(1);
    },
  );
});

describe("a streamed body and the peer's max-message-size", () => {
  it(
    'is aborted once it passes the size the receiving link declared, with MessageSizeExceededError',
    { timeout: 20_000 },
    async () => {
      const { listen, MessageSizeExceededError } = await import('../../src/index.js');
      const l = await listen();
      void (async () => {
        for await (const link of l) link.acceptAsReceiver({ credit: 10, maxMessageSize: 1024 * 1024, streaming: true });
      })();
      const c = await connect(l.url);
      try {
        const sender = await c.createSender('small-only');
        await expect(sender.send({ body: chunks(8, 256 * 1024) })).rejects.toBeInstanceOf(MessageSizeExceededError);
      } finally {
        await c.close();
        await l.close();
      }
    },
  );
});

describe('a streamed send held back by the peer', () => {
  it(
    'is cancelled by its timeout while it waits for the window (it does not hang), and aborted',
    { timeout: 20_000 },
    async () => {
      const { listen, TimeoutError } = await import('../../src/index.js');
      const l = await listen();
      // A streaming receiver whose reader never reads: after a megabyte it holds the session window.
      void (async () => {
        for await (const link of l) {
          const r = link.acceptAsReceiver({ credit: 10, streaming: true });
          await r.receive();
        }
      })();
      const c = await connect({ url: l.url, maxFrameSize: 4096 });
      try {
        const sender = await c.createSender('held');
        const t0 = performance.now();
        await expect(sender.send({ body: chunks(64, 256 * 1024) }, { timeout: 300 })).rejects.toBeInstanceOf(
          TimeoutError,
        );
        expect(performance.now() - t0).toBeLessThan(3000);
      } finally {
        await c.close();
        await l.close();
      }
    },
  );
});
