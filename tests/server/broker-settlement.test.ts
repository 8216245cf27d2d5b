/**
 * A consumer that settles a message and at once closes its link, session or connection: the
 * settlement must reach the broker before the close does, or the broker (rightly) puts the message
 * back and someone gets it again. The tutorial's receivers do exactly this with their last message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';

let broker: Broker | undefined;
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

async function client(): Promise<Connection> {
  const c = await connect(broker!.url);
  conns.push(c);
  return c;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('settling then closing at once', () => {
  for (const closing of ['connection', 'session', 'link'] as const) {
    it(`a message accepted just before its ${closing} closes is consumed, not put back`, async () => {
      broker = await startBroker({ port: 0 });
      await (await (await client()).createSender('q')).send({ body: 'once' });
      const c = await client();
      const session = await c.createSession();
      const receiver = await session.createReceiver({ source: 'q', credit: 1 });
      const d = await receiver.receive({ timeout: 5000 });
      d.accept();
      if (closing === 'connection') await c.close();
      else if (closing === 'session') await session.close();
      else await receiver.close();
      await wait(100);
      expect(broker!.queue('q')).toMatchObject({ depth: 0, inFlight: 0 });
    });
  }

  it('a message released just before the connection closes goes back once and is delivered again', async () => {
    broker = await startBroker({ port: 0 });
    await (await (await client()).createSender('r')).send({ body: 'again' });
    const c = await client();
    const d = await (await c.createReceiver({ source: 'r', credit: 1 })).receive({ timeout: 5000 });
    d.release();
    await c.close();
    const next = await (await client()).createReceiver({ source: 'r', credit: 5 });
    const again = await next.receive({ timeout: 5000 });
    expect(again.message.body).toBe('again');
    expect(again.message.deliveryCount).toBeUndefined();
    again.accept();
    await wait(100);
    expect(broker!.queue('r')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('unsettled messages of a consumer that goes come back in their original order', async () => {
    broker = await startBroker({ port: 0 });
    const sender = await (await client()).createSender('ordered');
    for (let i = 0; i < 30; i++) await sender.send({ body: i });
    const c = await client();
    const first = await c.createReceiver({ source: 'ordered', credit: 30 });
    for (let i = 0; i < 10; i++) (await first.receive({ timeout: 5000 })).accept();
    await expect.poll(() => first.buffered).toBe(20);
    await c.close(); // 20 delivered, unsettled
    await expect.poll(() => broker!.queue('ordered')).toMatchObject({ depth: 20, inFlight: 0 });
    const second = await (await client()).createReceiver({ source: 'ordered', credit: 30, autoAccept: true });
    const bodies: unknown[] = [];
    for (let i = 0; i < 20; i++) bodies.push((await second.receive({ timeout: 5000 })).message.body);
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
  });
});
