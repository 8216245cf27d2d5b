/**
 * The embedded broker against a peer that breaks the rules on purpose: it attaches a sender and
 * writes transfers without waiting for credit. The broker must close that link with
 * amqp:link:transfer-limit-exceeded, keep nothing beyond the credit it gave, and serve everyone
 * else as before.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/codec/message.js';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import { ProtocolEngine } from '../../src/engine/engine.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { SocketTransport } from '../../src/transport/socket-transport.js';
import { connect, startBroker, type Broker } from '../../src/index.js';

let broker: Broker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

/** A producer made of the bare engine (so it can break the rules): attached to `address`, with rcv-settle-mode `rcvSettleMode`. */
async function rawProducer(on: Broker, address: string, rcvSettleMode: number) {
  const events: EngineEvent[] = [];
  const engine = new ProtocolEngine({
    role: 'client',
    containerId: `raw-${address}`,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    sasl: { mechanisms: ['ANONYMOUS'] },
  });
  engine.onEvent = (e) => void events.push(e);
  const socket = net.connect({ host: '127.0.0.1', port: on.port });
  const transport = new SocketTransport(engine, socket);
  const closed = new Promise<void>((resolve) => (transport.onClosed = resolve));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  engine.open();
  const session = engine.createSession();
  session.open();
  const link = session.createLink({
    name: address,
    role: 'sender',
    target: { kind: 'target', address },
    rcvSettleMode,
  });
  link.open();
  return { events, engine, session, link, transport, closed };
}

describe('the broker against a sender that ignores credit', () => {
  it('closes the flooding link with amqp:link:transfer-limit-exceeded, keeps no more than the credit it gave, and other clients go on', async () => {
    broker = await startBroker({ port: 0, queueLimit: 1000 });
    const { events, engine, session, link, transport, closed } = await rawProducer(broker, 'flood', 0);
    while (!events.some((e) => e.type === 'linkRemoteOpen')) await new Promise((r) => setTimeout(r, 5));

    // 5,000 transfers of 1 KB written at once, whatever the credit (the engine's own send() would refuse).
    const payload = encodeMessage({ body: new Uint8Array(1000) });
    for (let i = 0; i < 5000; i++) {
      engine.writeFrame(
        session.channel,
        compositeSpecs.transfer,
        {
          handle: link.handle,
          deliveryId: i,
          deliveryTag: Buffer.from([i >> 8, i & 255]),
          messageFormat: 0,
          settled: true,
        },
        payload,
      );
    }
    transport.flush();
    const deadline = Date.now() + 10_000;
    while (!events.some((e) => e.type === 'linkRemoteClose') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    const close = events.find((e) => e.type === 'linkRemoteClose');
    expect(close?.type === 'linkRemoteClose' && close.error?.condition).toBe('amqp:link:transfer-limit-exceeded');
    // What the broker keeps is what its credit allowed: it tops producers up 100 at a time as the
    // queue takes their messages, and stops at the queue limit. Before, all 5,000 were queued.
    const stats = broker.queue('flood');
    expect((stats?.depth ?? 0) + (stats?.inFlight ?? 0)).toBeLessThanOrEqual(1000);
    expect(stats?.depth).toBeGreaterThan(0);
    // The connection is still up, and the broker serves a well-behaved client as before.
    expect(engine.finished).toBe(false);
    const good = await connect({ url: broker.url, reconnect: false });
    const sender = await good.createSender('orders');
    await expect(sender.send({ body: 'fine' })).resolves.toEqual({ kind: 'accepted' });
    await good.close();
    transport.destroy();
    await closed;
  });

  it('a producer asking for rcv-settle-mode second gets first: the broker settles each message as it stores it, so a peer that never settles makes it hold nothing', async () => {
    broker = await startBroker({ port: 0 });
    const { link, transport, closed } = await rawProducer(broker, 'second', 1);
    while (link.credit < 50) await new Promise((r) => setTimeout(r, 5));
    expect(link.remote?.rcvSettleMode).toBe(0); // the receiver's attach decides (spec 2.7.3)
    const deliveries = Array.from({ length: 50 }, () => link.send(encodeMessage({ body: 'x' })));
    const deadline = Date.now() + 5000;
    while (deliveries.some((d) => !d.remoteSettled) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    // Every one settled by the broker with its outcome, though we never settled any.
    expect(deliveries.every((d) => d.remoteSettled && d.remoteState?.kind === 'accepted')).toBe(true);
    expect(broker.queue('second')?.depth).toBe(50);
    transport.destroy();
    await closed;
  });
});
