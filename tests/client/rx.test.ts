import { afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom, from, interval, map, take, toArray } from 'rxjs';
import {
  connect,
  listen,
  sendTo,
  type Connection,
  type Listener,
  type Receiver,
  type Message,
} from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

/** A listener whose incoming links become receivers handed to the test. */
async function listenForReceiver(credit = 10): Promise<{ url: string; receiver: Promise<Receiver> }> {
  listener = await listen();
  const receiver = new Promise<Receiver>((resolve) => {
    const sub = listener!.links$.subscribe((link) => {
      sub.unsubscribe();
      resolve(link.acceptAsReceiver({ credit }));
    });
  });
  return { url: listener.url, receiver };
}

describe('RxJS views of the engine', () => {
  it('events$ reports opened, linkOpened and settled events in order', async () => {
    const { url, receiver } = await listenForReceiver();
    client = await connect(url);
    const seen: string[] = [];
    client.events$.subscribe((e) => seen.push(e.type));
    const sender = await client.createSender('q');
    const r = await receiver;
    const done = sender.send({ body: 1 });
    (await r.receive()).accept();
    await done;
    expect(seen).toContain('linkOpened');
    expect(seen).toContain('sendable');
    expect(seen.indexOf('settled')).toBeGreaterThan(seen.indexOf('linkOpened'));
  });

  it("a sender link's events$ carries only that link's events", async () => {
    const { url, receiver } = await listenForReceiver();
    client = await connect(url);
    const sender = await client.createSender('q');
    const settled = firstValueFrom(sender.events$.pipe(filter((e) => e.type === 'settled')));
    const r = await receiver;
    void sender.send({ body: 'x' });
    (await r.receive()).accept();
    const e = await settled;
    expect(e.type === 'settled' && e.link).toBe(sender);
  });

  it('deliveries$ streams messages while subscribed and stops granting credit after unsubscribe', async () => {
    const { url, receiver } = await listenForReceiver(4);
    client = await connect(url);
    const sender = await client.createSender('q');
    const r = await receiver;
    const sends = Array.from({ length: 6 }, (_, i) => sender.send({ body: i }));
    const bodies = await firstValueFrom(
      r.deliveries$().pipe(
        take(6),
        map((d) => {
          d.accept();
          return d.message.body;
        }),
        toArray(),
      ),
    );
    expect(bodies).toEqual([0, 1, 2, 3, 4, 5]);
    await Promise.all(sends);
    expect(r.credit).toBe(0);
  });

  it('sendTo sends what an Observable emits and emits each outcome', async () => {
    const { url, receiver } = await listenForReceiver(3);
    client = await connect(url);
    const sender = await client.createSender('q');
    const r = await receiver;
    void (async () => {
      for await (const d of r) d.accept();
    })().catch(() => undefined);
    const results = await firstValueFrom(
      interval(1).pipe(
        take(20),
        map((i): Message => ({ body: i })),
        sendTo(sender),
        toArray(),
      ),
    );
    expect(results).toHaveLength(20);
    expect(results.every((x) => x?.kind === 'accepted')).toBe(true);
  });

  it('sendTo fails with amqp:resource-limit-exceeded instead of buffering a source that outruns the link', async () => {
    const { url, receiver } = await listenForReceiver(0);
    client = await connect(url);
    const sender = await client.createSender('q');
    await receiver;
    const err = await firstValueFrom(
      from(Array.from({ length: 50 }, (_, i): Message => ({ body: i }))).pipe(sendTo(sender, { maxBuffered: 10 })),
    ).catch((e: unknown) => e);
    expect((err as { condition?: string }).condition).toBe('amqp:resource-limit-exceeded');
  });

  it('sendAll reads a pull source only as fast as credit allows', async () => {
    const { url, receiver } = await listenForReceiver(0);
    client = await connect(url);
    const sender = await client.createSender('q');
    const r = await receiver;
    let read = 0;
    function* messages(): Generator<Message> {
      for (let i = 0; i < 100; i++) {
        read++;
        yield { body: i };
      }
    }
    const all = sender.sendAll(messages());
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(read).toBeLessThanOrEqual(1);
    void (async () => {
      for await (const d of r) d.accept();
    })().catch(() => undefined);
    r.addCredit(100);
    await expect(all).resolves.toBe(100);
    expect(read).toBe(100);
  });
});
