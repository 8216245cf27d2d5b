/**
 * rhea (an independent JavaScript AMQP 1.0 implementation) as the clients of Quark's embedded
 * broker: queues (stored until consumed, competing consumers), topics (by `topic://` prefix and by
 * the `topic` capability), and request/response through a dynamic reply-to address with rhea on
 * both sides.
 *
 * rhea facts relied on (PEERS.md): it leaves TCP_NODELAY off unless asked (we ask); its `send()`
 * throws past 2048 queued deliveries, so senders here send only while `sendable()`.
 */
import { once } from 'node:events';
import rhea, {
  type Connection as RheaConnection,
  type ConnectionOptions,
  type Container,
  type EventContext,
  type Message as RheaMessage,
  type Receiver as RheaReceiver,
  type ReceiverOptions,
  type Sender as RheaSender,
  type SenderOptions,
  type Source,
} from 'rhea';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';

let broker: Broker | undefined;
const rheaConnections = new Set<RheaConnection>();
const quarkConnections: Connection[] = [];

/** Remembers a rhea connection until it closes or its socket goes, so afterEach closes what is left. */
function track(c: RheaConnection): RheaConnection {
  rheaConnections.add(c);
  const forget = () => rheaConnections.delete(c);
  c.on('connection_close', forget);
  c.on('disconnected', forget);
  return c;
}

afterEach(async () => {
  await Promise.all(
    [...rheaConnections].map(async (c) => {
      const closed = Promise.race([once(c, 'connection_close'), once(c, 'disconnected')]);
      c.close();
      await closed;
    }),
  );
  rheaConnections.clear();
  for (const c of quarkConnections.splice(0)) await c.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

/**
 * A rhea connection to the broker, once open. Each has its own container (container id). rhea uses
 * SASL ANONYMOUS when given the user name 'anonymous' without a password, and skips SASL when
 * given no user name (`sasl: false`).
 */
async function rheaClient(options: { sasl?: boolean } = {}): Promise<RheaConnection> {
  const container: Container = rhea.create_container();
  // tcp_no_delay is a rhea option its typings leave out.
  const connectOptions: ConnectionOptions & { tcp_no_delay: boolean } = {
    host: '127.0.0.1',
    port: broker!.port,
    tcp_no_delay: true,
    reconnect: false,
    ...(options.sasl === false ? {} : { username: 'anonymous' }),
  };
  const c = track(container.connect(connectOptions));
  await once(c, 'connection_open');
  return c;
}

async function openSender(c: RheaConnection, options: SenderOptions | string): Promise<RheaSender> {
  const s = c.open_sender(options);
  await once(s, 'sendable');
  return s;
}

async function openReceiver(c: RheaConnection, options: ReceiverOptions | string): Promise<RheaReceiver> {
  const r = c.open_receiver(options);
  await once(r, 'receiver_open');
  return r;
}

/** Sends `count` messages made by `make` as credit allows; resolves once the broker accepted them all. */
function sendAll(sender: RheaSender, count: number, make: (i: number) => RheaMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let accepted = 0;
    const pump = () => {
      while (sent < count && sender.sendable()) sender.send(make(sent++));
    };
    sender.on('sendable', pump);
    sender.on('accepted', () => {
      if (++accepted === count) resolve();
    });
    sender.on('rejected', (ctx: EventContext) =>
      reject(new Error(`rejected: ${JSON.stringify(ctx.delivery?.remote_state)}`)),
    );
    sender.on('released', () => reject(new Error('released')));
    sender.on('sender_error', (ctx: EventContext) => reject(new Error(`sender error: ${String(ctx.sender?.error)}`)));
    pump();
  });
}

/** Collects `count` message bodies from a rhea receiver (auto-accepted). */
function collect(receiver: RheaReceiver, count: number): Promise<RheaMessage[]> {
  return new Promise((resolve, reject) => {
    const got: RheaMessage[] = [];
    receiver.on('message', (ctx: EventContext) => {
      got.push(ctx.message!);
      if (got.length === count) resolve(got);
    });
    receiver.on('receiver_error', (ctx: EventContext) =>
      reject(new Error(`receiver error: ${String(ctx.receiver?.error)}`)),
    );
  });
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('rhea clients against the embedded broker', () => {
  it('a queue keeps what a rhea sender sent until a rhea receiver takes it: 2000 messages once each, in order', async () => {
    broker = await startBroker({ port: 0 });
    const producer = await rheaClient();
    const sender = await openSender(producer, 'rhea-queue');
    await sendAll(sender, 2000, (i) => ({
      message_id: i,
      application_properties: { index: i, kind: 'rhea' },
      body: `message ${i}`,
    }));
    expect(broker!.queue('rhea-queue')).toMatchObject({ depth: 2000, inFlight: 0 });

    const consumer = await rheaClient();
    const receiver = await openReceiver(consumer, { source: 'rhea-queue', credit_window: 100 });
    const got = await collect(receiver, 2000);
    expect(got.map((m) => m.body as string)).toEqual(range(2000).map((i) => `message ${i}`));
    expect(got.map((m) => m.application_properties)).toEqual(range(2000).map((i) => ({ index: i, kind: 'rhea' })));
    await expect.poll(() => broker!.queue('rhea-queue')).toMatchObject({ depth: 0, inFlight: 0 });
  });

  it('competing rhea consumers of one queue each get a share, and together every message exactly once', async () => {
    broker = await startBroker({ port: 0 });
    const c1 = await rheaClient();
    const c2 = await rheaClient();
    const got: number[][] = [[], []];
    const r1 = await openReceiver(c1, { source: 'work', credit_window: 10 });
    const r2 = await openReceiver(c2, { source: 'work', credit_window: 10 });
    const total = 1000;
    const done = new Promise<void>((resolve) => {
      const on = (k: number) => (ctx: EventContext) => {
        got[k]!.push(ctx.message!.body as number);
        if (got[0]!.length + got[1]!.length === total) resolve();
      };
      r1.on('message', on(0));
      r2.on('message', on(1));
    });
    const sender = await openSender(await rheaClient(), 'work');
    await sendAll(sender, total, (i) => ({ body: i }));
    await done;
    expect(got[0]!.length).toBeGreaterThan(0);
    expect(got[1]!.length).toBeGreaterThan(0);
    expect([...got[0]!, ...got[1]!].sort((a, b) => a - b)).toEqual(range(total));
    // Each consumer still sees its share in queue order.
    for (const share of got) expect(share).toEqual([...share].sort((a, b) => a - b));
  });

  it('a topic gives every rhea subscriber every message, whether named topic:// or with the topic capability', async () => {
    broker = await startBroker({ port: 0 });
    const subscriber = await rheaClient();
    const byPrefix = await openReceiver(subscriber, 'topic://news');
    const byCapability = await openReceiver(subscriber, { source: { address: 'news', capabilities: ['topic'] } });
    const other = await openReceiver(await rheaClient(), 'topic://news');
    // 'topic://news' and the capability form's address 'news' are two different topics.
    const gotPrefix = collect(byPrefix, 200);
    const gotOther = collect(other, 200);
    const publisher = await rheaClient();
    await sendAll(await openSender(publisher, 'topic://news'), 200, (i) => ({ body: `news ${i}` }));
    expect((await gotPrefix).map((m) => m.body as string)).toEqual(range(200).map((i) => `news ${i}`));
    expect((await gotOther).map((m) => m.body as string)).toEqual(range(200).map((i) => `news ${i}`));

    const gotCapability = collect(byCapability, 50);
    await sendAll(await openSender(publisher, { target: { address: 'news', capabilities: ['topic'] } }), 50, (i) => ({
      body: `capability ${i}`,
    }));
    expect((await gotCapability).map((m) => m.body as string)).toEqual(range(50).map((i) => `capability ${i}`));
    // byCapability got none of the topic://news messages (they would have come first), and nothing waits anywhere.
    expect(broker.queues().every((q) => q.depth === 0)).toBe(true);
  });

  it('a topic publisher with no subscriber is not blocked, and later subscribers get only later messages', async () => {
    broker = await startBroker({ port: 0 });
    const publisher = await openSender(await rheaClient(), 'topic://quiet');
    await sendAll(publisher, 20, (i) => ({ body: `early ${i}` }));
    const late = await openReceiver(await rheaClient(), 'topic://quiet');
    const got = collect(late, 5);
    await sendAll(publisher, 5, (i) => ({ body: `late ${i}` }));
    expect((await got).map((m) => m.body as string)).toEqual(range(5).map((i) => `late ${i}`));
  });

  it('request/response with rhea on both sides: a dynamic receiver gets a temporary address for reply-to, removed when it detaches', async () => {
    broker = await startBroker({ port: 0 });
    // The service: consumes 'service', answers through an anonymous-relay sender (no target).
    const service = await rheaClient();
    const relay = await openSender(service, {});
    const requests = await openReceiver(service, 'service');
    requests.on('message', (ctx: EventContext) => {
      const m = ctx.message!;
      relay.send({ to: m.reply_to, correlation_id: m.message_id, body: String(m.body).toUpperCase() });
    });

    const client = await rheaClient();
    // rhea's typings want an address even for a dynamic source, which has none.
    const replies = await openReceiver(client, { source: { dynamic: true } as unknown as Source });
    const replyTo = replies.source.address;
    expect(replyTo).toMatch(/^temp-queue:\/\//);
    expect(broker!.queue(replyTo)).toMatchObject({ consumers: 1 });
    const got = collect(replies, 300);
    const sender = await openSender(client, 'service');
    await sendAll(sender, 300, (i) => ({ message_id: `req-${i}`, reply_to: replyTo, body: `request ${i}` }));
    const answers = await got;
    expect(answers.map((m) => [m.correlation_id, m.body])).toEqual(range(300).map((i) => [`req-${i}`, `REQUEST ${i}`]));

    replies.close();
    await once(replies, 'receiver_close');
    await expect.poll(() => broker!.queue(replyTo)).toBeUndefined();
  });

  it('a rhea client that skips SASL is let in while anonymous access is allowed, and kept out when users are required', async () => {
    broker = await startBroker({ port: 0 });
    const c = await rheaClient({ sasl: false });
    await sendAll(await openSender(c, 'no-sasl'), 10, (i) => ({ body: i }));
    expect(broker!.queue('no-sasl')).toMatchObject({ depth: 10 });
    await broker.close();

    broker = await startBroker({ port: 0, users: { alice: 'secret' }, allowInsecurePlain: true });
    const container: Container = rhea.create_container();
    const refused = track(container.connect({ host: '127.0.0.1', port: broker.port, reconnect: false }));
    refused.on('error', () => undefined);
    const outcome = await Promise.race([
      once(refused, 'connection_open').then(() => 'open'),
      once(refused, 'disconnected').then(() => 'disconnected'),
    ]);
    expect(outcome).toBe('disconnected');
    const alice = track(
      container.connect({
        host: '127.0.0.1',
        port: broker.port,
        reconnect: false,
        username: 'alice',
        password: 'secret',
      }),
    );
    await once(alice, 'connection_open');
  });

  it('a rhea subscriber and a Quark publisher share a topic, and a Quark consumer takes what rhea queued', async () => {
    broker = await startBroker({ port: 0 });
    const rheaSub = await openReceiver(await rheaClient(), 'topic://mixed');
    const got = collect(rheaSub, 100);
    const quark = await connect(broker.url);
    quarkConnections.push(quark);
    const publisher = await quark.createSender('topic://mixed');
    await Promise.all(range(100).map((i) => publisher.send({ messageId: BigInt(i), body: `from quark ${i}` })));
    expect((await got).map((m) => m.body as string)).toEqual(range(100).map((i) => `from quark ${i}`));

    // rhea sends small JavaScript numbers as uint (or int for 0): compare by value.
    await sendAll(await openSender(await rheaClient(), 'handoff'), 100, (i) => ({ body: i }));
    const receiver = await quark.createReceiver({ source: 'handoff', autoAccept: true });
    const bodies: number[] = [];
    for (let i = 0; i < 100; i++) bodies.push(Number((await receiver.receive({ timeout: 5000 })).message.body));
    expect(bodies).toEqual(range(100));
  });
});
