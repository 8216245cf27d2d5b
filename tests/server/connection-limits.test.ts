/**
 * What one connection may make the listening side hold is bounded: sessions by channel-max,
 * links per session by handle-max, links per connection by maxLinksPerConnection. Each limit is
 * advertised, enforced on the offending session or link only, and leaves the connection and every
 * other client working.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import { LinkClosedError, connect, listen, type AmqpError, type Connection, type Listener } from '../../src/index.js';
import { openPair, pump } from '../support/engine-pair.js';

let listener: Listener | undefined;
const clients: Connection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await listener?.close();
  listener = undefined;
});

async function acceptingListener(options: Parameters<typeof listen>[0]): Promise<Listener> {
  const l = await listen(options);
  l.links$.subscribe((link) => {
    if (link.role === 'receiver')
      link
        .acceptAsReceiver()
        .deliveries$()
        .subscribe({ next: (d) => d.accept(), error: () => undefined });
    else link.acceptAsSender();
  });
  return l;
}

describe('per-connection limits of the listening side', () => {
  it('advertises channel-max 255 by default: a client cannot begin a 257th session, and its other sessions go on', async () => {
    listener = await acceptingListener({ port: 0 });
    const client = await connect({ url: listener.url, reconnect: false });
    clients.push(client);
    expect(client.remoteOpen?.['channelMax']).toBe(255);
    const sessions = await Promise.all(Array.from({ length: 256 }, () => client.createSession()));
    expect(sessions.every((s) => s.isOpen)).toBe(true);
    const refused = await client.createSession().catch((e: unknown) => e);
    expect((refused as AmqpError).condition).toBe('amqp:resource-limit-exceeded');
    expect((refused as Error).message).toMatch(/All 256 session channels of the connection are in use/);
    const sender = await sessions[7]!.createSender('q');
    await expect(sender.send({ body: 'still fine' })).resolves.toEqual({ kind: 'accepted' });
  });

  it('an attach past maxLinksPerConnection is refused with amqp:resource-limit-exceeded; closing one lets the next in', async () => {
    listener = await acceptingListener({ port: 0, maxLinksPerConnection: 20 });
    const client = await connect({ url: listener.url, reconnect: false });
    clients.push(client);
    const senders = await Promise.all(Array.from({ length: 20 }, (_, i) => client.createSender(`q${i}`)));
    const refused = await client.createSender('one-too-many').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LinkClosedError);
    expect((refused as LinkClosedError).condition).toBe('amqp:resource-limit-exceeded');
    expect((refused as LinkClosedError).message).toMatch(/maxLinksPerConnection/);
    await senders[0]!.close();
    const next = await client.createSender('after-one-closed');
    expect(next.isOpen).toBe(true);
    // Another client is not affected by this one's count.
    const other = await connect({ url: listener.url, reconnect: false });
    clients.push(other);
    expect((await other.createSender('q')).isOpen).toBe(true);
  });

  it('a session attach with a handle above the advertised handle-max closes the connection with amqp:resource-limit-exceeded', () => {
    const { c, s } = openPair({}, { handleMax: 3 });
    const session = c.engine.createSession();
    session.open();
    pump(c.engine, s.engine);
    expect(s.engine.sessions[0]!.beginFields()['handleMax']).toBe(3);
    c.engine.writeFrame(session.channel, compositeSpecs.attach, {
      name: 'h',
      handle: 10,
      role: false,
      target: { kind: 'target', address: 'q' },
      initialDeliveryCount: 0,
    });
    pump(c.engine, s.engine);
    const failure = s.events.find((e) => e.type === 'protocolError');
    expect(failure?.type === 'protocolError' && failure.error.condition).toBe('amqp:resource-limit-exceeded');
  });
});
