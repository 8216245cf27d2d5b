import { afterEach, describe, expect, it } from 'vitest';
import {
  connect,
  listen,
  type Connection,
  type Listener,
  DeliveryRejectedError,
  LinkClosedError,
  ulong,
  symbol,
} from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

describe('client API peer to peer over loopback', () => {
  it('a message sent by one Quark process arrives at a listening one, with its types, and send() resolves on accept', async () => {
    listener = await listen();
    const received = (async () => {
      for await (const link of listener!) {
        const receiver = link.acceptAsReceiver({ credit: 10 });
        const delivery = await receiver.receive();
        delivery.accept();
        return delivery.message;
      }
      return undefined;
    })();
    client = await connect(listener.url);
    const sender = await client.createSender('orders');
    const outcome = await sender.send({ subject: 'new', body: { id: 1, qty: ulong(5), tags: [symbol('a')] } });
    expect(outcome?.kind).toBe('accepted');
    const message = await received;
    expect(message?.subject).toBe('new');
    // Native values by default: what a JavaScript program holds.
    expect(message?.body).toEqual({ id: 1, qty: 5, tags: ['a'] });
  });

  it('with values: exact, the listening side sees every AMQP type as sent', async () => {
    listener = await listen();
    const received = (async () => {
      for await (const link of listener!) {
        const receiver = link.acceptAsReceiver({ credit: 10, values: 'exact' });
        const delivery = await receiver.receive();
        delivery.accept();
        return delivery.message;
      }
      return undefined;
    })();
    client = await connect(listener.url);
    const sender = await client.createSender('orders');
    await sender.send({ body: { id: 1, qty: ulong(5), tags: [symbol('a')] } });
    expect((await received)?.body).toEqual(
      new Map<unknown, unknown>([
        ['id', 1],
        ['qty', ulong(5)],
        ['tags', [symbol('a')]],
      ]),
    );
  });

  it("a rejected message rejects send() with the peer's condition", async () => {
    listener = await listen();
    void (async () => {
      for await (const link of listener!) {
        const receiver = link.acceptAsReceiver();
        for await (const d of receiver) d.reject({ condition: 'amqp:precondition-failed', description: 'no' });
      }
    })();
    client = await connect(listener.url);
    const sender = await client.createSender('q');
    const err = await sender.send({ body: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryRejectedError);
    expect((err as DeliveryRejectedError).condition).toBe('amqp:precondition-failed');
  });

  it("a refused link rejects createSender() with the peer's condition", async () => {
    listener = await listen();
    listener.links$.subscribe((link) => link.refuse({ condition: 'amqp:not-found', description: 'no such node' }));
    client = await connect(listener.url);
    const err = await client.createSender('nowhere').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinkClosedError);
    expect((err as LinkClosedError).condition).toBe('amqp:not-found');
  });

  it('many sends in flight all resolve, in order, through a small credit window', async () => {
    listener = await listen();
    void (async () => {
      for await (const link of listener!) {
        const receiver = link.acceptAsReceiver({ credit: 5, autoAccept: true });
        void (async () => {
          for await (const _ of receiver) {
            /* accepted on take */
          }
        })();
      }
    })();
    client = await connect(listener.url);
    const sender = await client.createSender('q');
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => sender.send({ body: i })));
    expect(results.every((r) => r?.kind === 'accepted')).toBe(true);
  });
});
