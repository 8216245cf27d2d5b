/** A message body given as an AsyncIterable of bytes is sent as data sections, chunk by chunk. */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionLostError, connect, listen, startBroker, type Broker, type Connection } from '../../src/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

let broker: Broker | undefined;
let conn: Connection | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await conn?.close();
  await proxy?.close();
  proxy = undefined;
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

  it('a streamed send and a plain one made in the same turn with one credit both go out, in turn (the stream waits for credit again)', async () => {
    const listener = await listen({ port: 0 });
    const got: unknown[] = [];
    void (async () => {
      for await (const link of listener) {
        if (link.role !== 'receiver') continue;
        for await (const d of link.acceptAsReceiver({ credit: 1 })) {
          got.push(d.message.body);
          d.accept();
        }
      }
    })();
    try {
      conn = await connect({ url: listener.url, reconnect: false });
      const sender = await conn.createSender('stream-race');
      while (sender.credit === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // The stream sees the credit and begins a microtask later; the plain send takes the credit first.
      const streamed = sender.send({ body: chunks(2, 1024) });
      const plain = sender.send({ body: 'plain' });
      await expect(Promise.all([streamed, plain])).resolves.toEqual([{ kind: 'accepted' }, { kind: 'accepted' }]);
      expect(got).toHaveLength(2);
      expect(got[0]).toBe('plain');
    } finally {
      await conn?.close();
      conn = undefined;
      await listener.close();
    }
  });

  it(
    'the connection lost mid-stream fails the streamed send with ConnectionLostError; no part of it is sent on its own after the reconnect',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: broker.port } });
      conn = await connect({ url: proxy.url, reconnect: { initialDelay: 20, maxDelay: 100, jitter: 0 } });
      const sender = await conn.createSender('stream-lost');
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      async function* halfThenWait(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(64 * 1024).fill(1);
        await gate; // the connection drops here
        yield new Uint8Array(64 * 1024).fill(2);
      }
      const streamed = sender.send({ subject: 'streamed', body: halfThenWait() });
      await new Promise((resolve) => setTimeout(resolve, 100));
      proxy.dropAll();
      await expect(streamed).rejects.toBeInstanceOf(ConnectionLostError);
      release();
      await expect(sender.send({ body: 'after' })).resolves.toEqual({ kind: 'accepted' });
      const receiver = await conn.createReceiver('stream-lost');
      const first = await receiver.receive({ timeout: 5000 });
      expect(first.message.body).toBe('after'); // nothing of the streamed message before it
      first.accept();
      expect(broker.queue('stream-lost')?.depth).toBe(0);
    },
  );
});
