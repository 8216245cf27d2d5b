import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  DeliveryReleasedError,
  connect,
  startBroker,
  type Broker,
  type Connection,
} from '../../src/index.js';

let broker: Broker | undefined;
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

async function client(options: Parameters<typeof connect>[0] = broker!.url): Promise<Connection> {
  const c = await connect(options);
  conns.push(c);
  return c;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('embedded broker', () => {
  it('stores messages in a queue until a consumer takes them, in order', async () => {
    broker = await startBroker({ port: 0 });
    const p = await client();
    const sender = await p.createSender('q1');
    for (let i = 0; i < 5; i++) await sender.send({ body: i });
    const c = await client();
    const receiver = await c.createReceiver('q1');
    const got: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const d = await receiver.receive({ timeout: 2000 });
      got.push(d.message.body);
      d.accept();
    }
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it('shares a queue between competing consumers: each message goes to exactly one', async () => {
    broker = await startBroker({ port: 0 });
    const c = await client();
    const r1 = await c.createReceiver({ source: 'work', credit: 5, autoAccept: true });
    const r2 = await c.createReceiver({ source: 'work', credit: 5, autoAccept: true });
    const sender = await (await client()).createSender('work');
    await Promise.all(Array.from({ length: 40 }, (_, i) => sender.send({ body: i })));
    const seen: number[] = [];
    const drain = async (r: typeof r1) => {
      while (true) {
        const d = await r.receive({ timeout: 300 }).catch(() => undefined);
        if (!d) return;
        seen.push(d.message.body as number);
      }
    };
    await Promise.all([drain(r1), drain(r2)]);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('redelivers a released message, and counts a failed attempt when modified with deliveryFailed', async () => {
    broker = await startBroker({ port: 0 });
    const c = await client();
    const sender = await c.createSender('redo');
    await sender.send({ body: 'again' });
    const r = await c.createReceiver({ source: 'redo', credit: 1 });
    const first = await r.receive({ timeout: 2000 });
    expect(first.message.deliveryCount).toBeUndefined();
    first.release();
    const second = await r.receive({ timeout: 2000 });
    expect(second.message.body).toBe('again');
    second.modify({ deliveryFailed: true });
    const third = await r.receive({ timeout: 2000 });
    expect(third.message.deliveryCount).toBe(1);
    third.accept();
  });

  it('sends rejected messages to the dead-letter address', async () => {
    broker = await startBroker({ port: 0, deadLetterAddress: 'DLQ' });
    const c = await client();
    const sender = await c.createSender('orders');
    await sender.send({ body: 'bad' });
    const r = await c.createReceiver('orders');
    (await r.receive({ timeout: 2000 })).reject({ condition: 'amqp:precondition-failed' });
    const dlq = await c.createReceiver('DLQ');
    const dead = await dlq.receive({ timeout: 2000 });
    expect(dead.message.body).toBe('bad');
  });

  it('redelivers to another consumer what a disconnected consumer left unsettled', async () => {
    broker = await startBroker({ port: 0 });
    const sender = await (await client()).createSender('jobs');
    await sender.send({ body: 'job' });
    const quitter = await connect(broker.url);
    const r1 = await quitter.createReceiver('jobs');
    expect((await r1.receive({ timeout: 2000 })).message.body).toBe('job');
    await quitter.close();
    const r2 = await (await client()).createReceiver('jobs');
    expect((await r2.receive({ timeout: 2000 })).message.body).toBe('job');
  });

  it('stops giving producers credit while a queue is at its limit, and resumes as it drains', async () => {
    broker = await startBroker({ port: 0, queueLimit: 20 });
    const sender = await (await client()).createSender('slow');
    const sends = Array.from({ length: 50 }, (_, i) => sender.send({ body: i }));
    await wait(200);
    const stats = broker.queues().find((q) => q.address === 'slow')!;
    expect(stats.depth).toBeLessThanOrEqual(20);
    expect(sender.pending).toBeGreaterThan(0);
    const r = await (await client()).createReceiver({ source: 'slow', credit: 10, autoAccept: true });
    let n = 0;
    while (n < 50) {
      await r.receive({ timeout: 2000 });
      n++;
    }
    await Promise.all(sends);
    expect(n).toBe(50);
  });

  it('gives a dynamic receiver a temporary address, usable as reply-to, and removes it on detach', async () => {
    broker = await startBroker({ port: 0 });
    const c = await client();
    const replies = await c.createReceiver({ source: { dynamic: true } });
    const address = replies.address!;
    expect(address).toMatch(/^temp-queue:\/\//);
    const sender = await c.createSender(address);
    await sender.send({ body: 'reply' });
    expect((await replies.receive({ timeout: 2000 })).message.body).toBe('reply');
    await replies.close();
    expect(broker.queues().some((q) => q.address === address)).toBe(false);
  });

  it('lets a browser (copy mode) see messages without consuming them', async () => {
    broker = await startBroker({ port: 0 });
    const c = await client();
    const sender = await c.createSender('shelf');
    await sender.send({ body: 'a' });
    await sender.send({ body: 'b' });
    const browser = await c.createReceiver({ source: { address: 'shelf', distributionMode: 'copy' } });
    const seen = [
      (await browser.receive({ timeout: 2000 })).message.body,
      (await browser.receive({ timeout: 2000 })).message.body,
    ];
    expect(seen).toEqual(['a', 'b']);
    const consumer = await c.createReceiver('shelf');
    expect((await consumer.receive({ timeout: 2000 })).message.body).toBe('a');
  });

  it('fans a topic out to every subscriber', async () => {
    broker = await startBroker({ port: 0 });
    const c = await client();
    const s1 = await c.createReceiver({ source: 'topic://news', autoAccept: true });
    const s2 = await c.createReceiver({ source: { address: 'news', capabilities: ['topic'] }, autoAccept: true });
    const p1 = await c.createSender('topic://news');
    await p1.send({ body: 'hello all' });
    expect((await s1.receive({ timeout: 2000 })).message.body).toBe('hello all');
    const p2 = await c.createSender({ target: { address: 'news', capabilities: ['topic'] } });
    await p2.send({ body: 'second' });
    expect((await s2.receive({ timeout: 2000 })).message.body).toBe('second');
  });

  it("routes an anonymous-relay sender by each message's to", async () => {
    broker = await startBroker({ port: 0 });
    const c = await client();
    const relay = await c.createSender(null);
    await relay.send({ to: 'qa', body: 1 });
    await relay.send({ to: 'qb', body: 2 });
    expect((await (await c.createReceiver('qa')).receive({ timeout: 2000 })).message.body).toBe(1);
    expect((await (await c.createReceiver('qb')).receive({ timeout: 2000 })).message.body).toBe(2);
  });

  it('accepts PLAIN users over TLS-less loopback (allowed or not: the client is on this machine), and refuses a wrong password', async () => {
    broker = await startBroker({ port: 0, users: { alice: 'sécret✓' }, allowInsecurePlain: true });
    const ok = await client({ url: broker.url, username: 'alice', password: 'sécret✓' });
    expect(ok.isOpen).toBe(true);
    const err = await connect({ url: broker.url, username: 'alice', password: 'wrong' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    await broker.close();
    // Without allowInsecurePlain PLAIN is still offered to loopback clients (before, nothing was
    // offered, and even the right password was refused).
    broker = await startBroker({ port: 0, users: { alice: 'x' } });
    const local = await client({ url: broker.url, username: 'alice', password: 'x' });
    expect(local.isOpen).toBe(true);
  });

  it('a message released to a queue with no other consumer is not lost', async () => {
    broker = await startBroker({ port: 0 });
    const c = await client();
    const s = await c.createSender('keep');
    await s.send({ body: 'x' });
    const r = await c.createReceiver({ source: 'keep', credit: 1 });
    (await r.receive({ timeout: 2000 })).release();
    expect((await r.receive({ timeout: 2000 })).message.body).toBe('x');
    expect(DeliveryReleasedError).toBeDefined();
  });
});

describe('broker.queue(address)', () => {
  it('gives the figures of one queue, or undefined for an address with none', async () => {
    const b = await startBroker({ port: 0 });
    try {
      const c = await connect(b.url);
      const s = await c.createSender('one');
      await s.send({ body: 1 });
      await s.send({ body: 2 });
      expect(b.queue('one')).toEqual({ address: 'one', depth: 2, inFlight: 0, consumers: 0 });
      expect(b.queue('none')).toBeUndefined();
      await c.close();
    } finally {
      await b.close();
    }
  });
});
