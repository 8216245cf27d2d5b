/**
 * Senders honour the peer's max-message-size: a message larger than the receiving end declared
 * is refused with MessageSizeExceededError and never sent; the embedded broker keeps such a
 * message for a consumer that can take it instead of sending it to one that cannot.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  MessageSizeExceededError,
  connect,
  listen,
  startBroker,
  type Broker,
  type Connection,
  type Listener,
} from '../../src/index.js';

let listener: Listener | undefined;
let broker: Broker | undefined;
const clients: Connection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await listener?.close();
  await broker?.close();
  listener = undefined;
  broker = undefined;
});

describe("the peer's max-message-size", () => {
  it('a message larger than the receiver declared is refused before it is sent; smaller ones go through, also after it', async () => {
    listener = await listen({ port: 0 });
    const received: number[] = [];
    listener.links$.subscribe((link) => {
      const r = link.acceptAsReceiver({ maxMessageSize: 1000 }); // declared in our attach answer
      r.deliveries$().subscribe({ next: (d) => (received.push(d.payload.length), d.accept()), error: () => undefined });
    });
    const client = await connect({ url: listener.url, reconnect: false });
    clients.push(client);
    const sender = await client.createSender('limited');
    const tooLarge = await sender.send({ body: new Uint8Array(2000) }).catch((e: unknown) => e);
    expect(tooLarge).toBeInstanceOf(MessageSizeExceededError);
    expect((tooLarge as MessageSizeExceededError).condition).toBe('amqp:link:message-size-exceeded');
    expect((tooLarge as MessageSizeExceededError).maxMessageSize).toBe(1000);
    expect((tooLarge as Error).message).toMatch(/at most 1000 .*It was not sent/);
    await expect(sender.send({ body: new Uint8Array(500) })).resolves.toEqual({ kind: 'accepted' });
    expect(received.length).toBe(1);
    expect(received[0]).toBeLessThan(1000);
    expect(sender.isOpen).toBe(true);
  });

  it('the broker does not send a message to a consumer that declared a smaller max-message-size; a consumer without the limit gets it', async () => {
    broker = await startBroker({ port: 0 });
    const producer = await connect({ url: broker.url, reconnect: false });
    const small = await connect({ url: broker.url, reconnect: false });
    clients.push(producer, small);
    const sender = await producer.createSender('sized');
    await sender.send({ body: new Uint8Array(200_000) });
    await sender.send({ body: 'small' });
    const limited = await small.createReceiver('sized', { maxMessageSize: 100_000 });
    const first = await limited.receive({ timeout: 5000 });
    expect(first.message.body).toBe('small'); // the large one was held back for someone else
    first.accept();
    expect(broker.queue('sized')?.depth).toBe(1);
    const big = await connect({ url: broker.url, reconnect: false });
    clients.push(big);
    const unlimited = await big.createReceiver('sized');
    const d = await unlimited.receive({ timeout: 5000 });
    expect((d.message.body as Uint8Array).length).toBe(200_000);
    d.accept();
  });
});
