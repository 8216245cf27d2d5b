/**
 * Direct reads: a TCP socket of `connect()` reads into one buffer shared by every such socket,
 * so what a read brought must be copied out before the next read overwrites it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection, type Delivery } from '../../src/index.js';
import { DirectReads } from '../../src/transport/direct-reads.js';

let broker: Broker | undefined;
const connections: Connection[] = [];
afterEach(async () => {
  for (const conn of connections.splice(0)) await conn.close();
  await broker?.close();
  broker = undefined;
});

describe('direct reads', () => {
  it("hand on a copy of each read, and the sink's answer (false stops reading)", () => {
    const reads = new DirectReads();
    const { buffer, callback } = reads.socketOptions.onread;
    const got: Buffer[] = [];
    let answer = true;
    reads.attach({
      ingestRead(bytes) {
        got.push(bytes);
        return answer;
      },
    });
    buffer.write('first read', 0);
    expect(callback(5, buffer)).toBe(true);
    buffer.write('again', 0); // the next read overwrites the shared buffer
    answer = false;
    expect(callback(3, buffer)).toBe(false);
    expect(got.map((bytes) => bytes.toString())).toEqual(['first', 'aga']);
    expect(got[0]!.buffer).not.toBe(buffer.buffer);
  });

  it(
    'leave every message intact while later reads, on this connection and on another, reuse the read buffer',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0 });
      const count = 2000;
      const producer = await connect({ url: broker.url, reconnect: false });
      const consumer = await connect({ url: broker.url, reconnect: false });
      connections.push(producer, consumer);
      const sender = await producer.createSender('q');
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < count; i++) sent.push(sender.send({ body: Buffer.alloc(300, i & 0xff) }));
      // Deliveries are kept undecoded (a message is decoded from its bytes when first asked for)
      // while thousands of reads go on.
      const receiver = await consumer.createReceiver({ source: 'q', credit: 500 });
      const kept: Delivery[] = [];
      for await (const delivery of receiver) {
        kept.push(delivery);
        if (kept.length === count) break;
      }
      await Promise.all(sent);
      kept.forEach((delivery, i) => {
        const body = delivery.message.body as Buffer;
        expect(body.length).toBe(300);
        expect(body.every((byte) => byte === (i & 0xff))).toBe(true);
        delivery.accept();
      });
    },
  );
});
