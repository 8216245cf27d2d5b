/**
 * The embedded broker's memory bounds: bytes per queue (queueByteLimit), bytes in all queues
 * together (storeByteLimit), queues at once (maxQueues), and the largest message
 * (maxMessageSize). A producer is held back by credit once a limit is reached; what arrives past
 * it anyway is rejected with amqp:resource-limit-exceeded and not stored; consumers make room and
 * producers go on. Bad limit values are refused before anything listens.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeMessage, type Message } from '../../src/codec/message.js';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import { ProtocolEngine } from '../../src/engine/engine.js';
import type { EngineDelivery } from '../../src/engine/delivery.js';
import type { EngineEvent } from '../../src/engine/events.js';
import type { EngineLink } from '../../src/engine/link.js';
import { SocketTransport } from '../../src/transport/socket-transport.js';
import {
  InvalidArgumentError,
  DeliveryRejectedError,
  LinkClosedError,
  MessageSizeExceededError,
  TimeoutError,
  connect,
  startBroker,
  type Broker,
  type BrokerOptions,
  type Connection,
  type Sender,
} from '../../src/index.js';
import { freePort, portRefuses } from '../support/raw-sasl-client.js';

let broker: Broker | undefined;
const conns: Connection[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

async function client(): Promise<Connection> {
  const c = await connect({ url: broker!.url, reconnect: false });
  conns.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}

const KiB = 1024;
/** An 8 KiB message; `n` makes each one distinct. */
const message = (n: number): Message => {
  const body = new Uint8Array(8 * KiB);
  body[0] = n & 0xff;
  body[1] = (n >> 8) & 0xff;
  return { body };
};
/** What one such message costs against the broker's limits: its encoded bytes plus 128. */
const COST = encodeMessage(message(0)).length + 128;
/** How many 8 KiB messages a 64 KiB limit takes: the limit is checked before each message is stored. */
const FIT_64K = Math.ceil((64 * KiB) / COST);

/** Sends on `sender` until its credit is used up; every one of these must be rejected (the queue is over its limit). */
async function sendOutLeftoverCredit(sender: Sender, limitName: RegExp): Promise<number> {
  let sent = 0;
  while (sender.credit > 0) {
    const outcome = await sender.send(message(1000 + sent)).then(
      (r) => r,
      (e: unknown) => e,
    );
    sent++;
    expect(outcome).toBeInstanceOf(DeliveryRejectedError);
    expect((outcome as DeliveryRejectedError).condition).toBe('amqp:resource-limit-exceeded');
    expect((outcome as DeliveryRejectedError).description).toMatch(limitName);
    if (sent > 10_000) throw new Error('the broker keeps granting credit');
  }
  return sent;
}

/** A settle-tracking promise: `state()` says 'pending' until it settles. */
function track<T>(p: Promise<T>): { promise: Promise<T>; state: () => 'pending' | 'resolved' | 'rejected' } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  return { promise: p, state: () => state };
}

describe('queueByteLimit', () => {
  it(
    'a producer to a queue with no consumer gets no more credit once the queue holds the limit; the depth stops; a consumer drains it and the producer goes on',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0, queueByteLimit: 64 * KiB });
      expect(FIT_64K).toBe(8); // 8 KiB messages against 64 KiB: the 8th one reaches the limit
      const producer = await client();
      const sender = await producer.createSender('bytes');
      await waitFor(() => sender.credit > 0, 'the first credit');
      for (let i = 0; i < FIT_64K; i++) await expect(sender.send(message(i))).resolves.toEqual({ kind: 'accepted' });
      expect(broker.queue('bytes')).toMatchObject({ depth: FIT_64K, inFlight: 0 });
      expect(broker.storedBytes).toBe(FIT_64K * COST);

      // Whatever credit the producer still holds from before the limit buys it nothing: each such message is refused, not stored.
      await sendOutLeftoverCredit(sender, /queue bytes holds \d+ bytes, its limit \(queueByteLimit\)/);
      expect(broker.queue('bytes')?.depth).toBe(FIT_64K);
      expect(broker.storedBytes).toBe(FIT_64K * COST);

      // No new credit comes: the next send waits, and the queue does not grow.
      const waiting = track(sender.send(message(99)));
      await sleep(300);
      expect(sender.credit).toBe(0);
      expect(waiting.state()).toBe('pending');
      expect(broker.queue('bytes')?.depth).toBe(FIT_64K);

      // A consumer drains the queue: the producer gets credit again, its waiting message goes in, and it goes on.
      const consumer = await client();
      const receiver = await consumer.createReceiver({ source: 'bytes', credit: 4 });
      const got: number[] = [];
      for (let i = 0; i < FIT_64K + 1; i++) {
        const d = await receiver.receive({ timeout: 5000 });
        got.push((d.message.body as Uint8Array)[0]!);
        d.accept();
      }
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 99]);
      await expect(waiting.promise).resolves.toEqual({ kind: 'accepted' });
      for (let i = 0; i < 20; i++) {
        await expect(sender.send(message(200 + i), { timeout: 5000 })).resolves.toEqual({ kind: 'accepted' });
        const d = await receiver.receive({ timeout: 5000 });
        expect((d.message.body as Uint8Array)[0]).toBe(200 + i);
        d.accept();
      }
      await waitFor(() => broker!.storedBytes === 0, 'storedBytes back to 0');
      expect(broker.queue('bytes')).toMatchObject({ depth: 0, inFlight: 0 });
    },
  );

  it('another queue is not held back by a full one (the limit is per queue)', { timeout: 20_000 }, async () => {
    broker = await startBroker({ port: 0, queueByteLimit: 64 * KiB });
    const c = await client();
    const full = await c.createSender('full-one');
    await waitFor(() => full.credit > 0, 'credit');
    for (let i = 0; i < FIT_64K; i++) await full.send(message(i));
    const other = await c.createSender('other-one');
    await waitFor(() => other.credit > 0, 'credit on the other queue');
    for (let i = 0; i < FIT_64K; i++)
      await expect(other.send(message(i), { timeout: 5000 })).resolves.toEqual({ kind: 'accepted' });
    expect(broker.storedBytes).toBe(2 * FIT_64K * COST);
  });
});

describe('storeByteLimit', () => {
  it(
    'queues together reach the store limit: no producer of any queue gets credit; consuming from one queue makes room and producers resume',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0, storeByteLimit: 64 * KiB });
      const c = await client();
      const senders: Sender[] = [];
      for (let q = 0; q < 4; q++) {
        const s = await c.createSender(`store-${q}`);
        await waitFor(() => s.credit > 0, `credit on store-${q}`);
        senders.push(s);
      }
      // Two messages to each of four queues: eight of 8 KiB fill 64 KiB; no queue is near a limit of its own.
      for (let q = 0; q < 4; q++)
        for (let i = 0; i < 2; i++)
          await expect(senders[q]!.send(message(q * 10 + i))).resolves.toEqual({ kind: 'accepted' });
      expect(broker.storedBytes).toBe(8 * COST);
      expect(broker.storedBytes).toBeGreaterThanOrEqual(64 * KiB);
      for (let q = 0; q < 4; q++) expect(broker.queue(`store-${q}`)?.depth).toBe(2);

      // The credit every producer held was taken back when the store filled: a send to a queue that
      // holds 2 messages only waits (nothing is refused) until there is room.
      await waitFor(() => senders.every((s) => s.credit === 0), 'credit taken back from every producer');
      const held = track(senders[2]!.send(message(77)));

      // A producer of a brand-new queue gets no credit at all.
      const late = await c.createSender('store-new');
      await sleep(300);
      expect(late.credit).toBe(0);
      await expect(late.send(message(1), { timeout: 200 })).rejects.toBeInstanceOf(TimeoutError);
      const waiting = track(late.send(message(5)));
      await sleep(100);
      expect(waiting.state()).toBe('pending');
      expect(broker.storedBytes).toBe(8 * COST);

      // Consuming from one queue (store-1) makes room in the store: producers of the others go on.
      const r = await c.createReceiver({ source: 'store-1', credit: 2 });
      for (let i = 0; i < 2; i++) (await r.receive({ timeout: 5000 })).accept();
      await expect(waiting.promise).resolves.toEqual({ kind: 'accepted' });
      await expect(held.promise).resolves.toEqual({ kind: 'accepted' });
      expect(broker.queue('store-new')?.depth).toBe(1);
      expect(broker.queue('store-2')?.depth).toBe(3);
      expect(broker.storedBytes).toBe(8 * COST);
    },
  );
});

describe('storeByteLimit and the anonymous relay', () => {
  it(
    'a relay sender (no target) gets no more credit either once the store is full, and gets it back when consumers make room',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0, storeByteLimit: 64 * KiB });
      const c = await client();
      const filler = await c.createSender('relay-fill');
      await waitFor(() => filler.credit > 0, 'credit');
      for (let i = 0; i < FIT_64K; i++) await filler.send(message(i));
      expect(broker.storedBytes).toBeGreaterThanOrEqual(64 * KiB);

      const relay = await c.createSender(null);
      // Whatever credit it holds is spent on refusals; then the broker must stop granting more.
      let sent = 0;
      while (relay.credit > 0 && sent < 1000) {
        const outcome = await relay.send({ ...message(sent), to: `relay-${sent % 3}` }).catch((e: unknown) => e);
        sent++;
        expect(outcome).toBeInstanceOf(DeliveryRejectedError);
        expect((outcome as DeliveryRejectedError).condition).toBe('amqp:resource-limit-exceeded');
        expect((outcome as DeliveryRejectedError).description).toMatch(/storeByteLimit/);
      }
      expect(broker.storedBytes).toBe(FIT_64K * COST);
      expect(sent, 'the broker kept granting the relay credit while the store was full').toBeLessThan(1000);
      await sleep(200);
      expect(relay.credit).toBe(0);

      // Room again: the relay's waiting message goes in.
      const waiting = track(relay.send({ ...message(500), to: 'relay-fill' }));
      const r = await c.createReceiver({ source: 'relay-fill', credit: 2 });
      for (let i = 0; i < 2; i++) (await r.receive({ timeout: 5000 })).accept();
      await expect(waiting.promise).resolves.toEqual({ kind: 'accepted' });
    },
  );
});

/** A client engine on a raw socket that sends as it likes (ignoring limits and, when told, credit). */
async function rawProducer(
  port: number,
  addresses: string[],
): Promise<{
  engine: ProtocolEngine;
  events: EngineEvent[];
  links: EngineLink[];
  channel: number;
  transport: SocketTransport;
  close: () => Promise<void>;
}> {
  const events: EngineEvent[] = [];
  const engine = new ProtocolEngine({
    role: 'client',
    containerId: 'raw-producer',
    hostname: '127.0.0.1',
    idleTimeout: 0,
    sasl: { mechanisms: ['ANONYMOUS'] },
  });
  engine.onEvent = (e) => void events.push(e);
  const socket = net.connect({ host: '127.0.0.1', port });
  const transport = new SocketTransport(engine, socket);
  const closed = new Promise<void>((resolve) => (transport.onClosed = resolve));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  engine.open();
  const session = engine.createSession();
  session.open();
  const links = addresses.map((address, i) => {
    const link = session.createLink({ name: `raw-${i}`, role: 'sender', target: { kind: 'target', address } });
    link.open();
    return link;
  });
  await waitFor(() => links.every((l) => l.isOpen && l.credit > 0), 'the raw links to attach and get credit');
  return {
    engine,
    events,
    links,
    channel: session.channel,
    transport,
    close: async () => {
      transport.destroy();
      await closed;
    },
  };
}

const outcomes = (deliveries: EngineDelivery[]) => {
  const accepted = deliveries.filter((d) => d.remoteState?.kind === 'accepted').length;
  const rejected = deliveries.filter((d) => d.remoteState?.kind === 'rejected');
  return { accepted, rejected, settled: accepted + rejected.length };
};

describe('a peer that sends past the limit', () => {
  it(
    'transfers sent on credit after the queue is full are rejected with amqp:resource-limit-exceeded; past its credit the link is closed; storedBytes stays within the limit plus one message',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0, queueByteLimit: 64 * KiB });
      const raw = await rawProducer(broker.port, ['raw-q']);
      cleanups.push(raw.close);
      const link = raw.links[0]!;
      const credit = link.credit;
      expect(credit).toBeGreaterThan(FIT_64K);
      // All of the credit at once, 8 KiB each: far more than the queue may hold.
      const payload = encodeMessage(message(0));
      const deliveries: EngineDelivery[] = [];
      while (link.credit > 0) deliveries.push(link.send(payload));
      raw.transport.flush();
      await waitFor(() => outcomes(deliveries).settled === deliveries.length, 'every delivery to be settled');
      const { accepted, rejected } = outcomes(deliveries);
      expect(accepted).toBe(FIT_64K);
      expect(rejected.length).toBe(credit - FIT_64K);
      for (const d of rejected) {
        const error = d.remoteState?.kind === 'rejected' ? d.remoteState.error : undefined;
        expect(error?.condition).toBe('amqp:resource-limit-exceeded');
        expect(error?.description).toMatch(/queueByteLimit/);
      }
      expect(broker.storedBytes).toBeLessThanOrEqual(64 * KiB + COST);
      expect(broker.queue('raw-q')?.depth).toBe(FIT_64K);
      expect(link.credit).toBe(0);

      // Now past the credit: 200 more transfers written raw. The broker closes the link and keeps none of them.
      const firstId = deliveries.at(-1)!.id + 1;
      for (let i = 0; i < 200; i++) {
        raw.engine.writeFrame(
          raw.channel,
          compositeSpecs.transfer,
          {
            handle: link.handle,
            deliveryId: firstId + i,
            deliveryTag: Buffer.from(`x${i}`),
            messageFormat: 0,
            settled: true,
          },
          payload,
        );
      }
      raw.transport.flush();
      await waitFor(() => raw.events.some((e) => e.type === 'linkRemoteClose'), 'the broker to close the link');
      const close = raw.events.find((e) => e.type === 'linkRemoteClose');
      expect(close?.type === 'linkRemoteClose' && close.error?.condition).toBe('amqp:link:transfer-limit-exceeded');
      expect(broker.storedBytes).toBeLessThanOrEqual(64 * KiB + COST);
      expect(broker.queue('raw-q')?.depth).toBe(FIT_64K);
    },
  );

  it(
    'two links to two queues against the store limit: together they store at most the limit plus one message, the rest is rejected naming storeByteLimit',
    { timeout: 30_000 },
    async () => {
      broker = await startBroker({ port: 0, storeByteLimit: 64 * KiB });
      const raw = await rawProducer(broker.port, ['raw-a', 'raw-b']);
      cleanups.push(raw.close);
      const payload = encodeMessage(message(0));
      const deliveries: EngineDelivery[] = [];
      // Interleaved, all of both links' credit.
      while (raw.links.some((l) => l.credit > 0))
        for (const l of raw.links) if (l.credit > 0) deliveries.push(l.send(payload));
      raw.transport.flush();
      await waitFor(() => outcomes(deliveries).settled === deliveries.length, 'every delivery to be settled');
      const { accepted, rejected } = outcomes(deliveries);
      expect(accepted).toBe(FIT_64K);
      expect(rejected.length).toBe(deliveries.length - FIT_64K);
      for (const d of rejected) {
        const error = d.remoteState?.kind === 'rejected' ? d.remoteState.error : undefined;
        expect(error?.condition).toBe('amqp:resource-limit-exceeded');
        expect(error?.description).toMatch(/storeByteLimit/);
      }
      expect(broker.storedBytes).toBe(FIT_64K * COST);
      expect(broker.storedBytes).toBeLessThanOrEqual(64 * KiB + COST);
      expect((broker.queue('raw-a')?.depth ?? 0) + (broker.queue('raw-b')?.depth ?? 0)).toBe(FIT_64K);
    },
  );
});

describe('maxQueues', () => {
  const refusedWithMaxQueues = (e: unknown): void => {
    expect(e).toBeInstanceOf(LinkClosedError);
    expect((e as LinkClosedError).condition).toBe('amqp:resource-limit-exceeded');
    expect((e as LinkClosedError).description).toMatch(
      /the broker has 3 queues and subscriptions, its limit \(maxQueues\)/,
    );
  };

  it(
    'a fourth address is refused with amqp:resource-limit-exceeded naming maxQueues; once a queue is empty and unused, new addresses work again',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0, maxQueues: 3 });
      const c = await client();
      const a = await c.createSender('mq-a');
      const b = await c.createSender('mq-b');
      const cq = await c.createReceiver('mq-c');
      refusedWithMaxQueues(await c.createSender('mq-d').catch((e: unknown) => e));
      refusedWithMaxQueues(await c.createReceiver('mq-d').catch((e: unknown) => e));
      // The refusals did not make a queue, and the links in use still work.
      expect(broker.queue('mq-d')).toBeUndefined();
      await expect(a.send({ body: 'still fine' }, { timeout: 5000 })).resolves.toEqual({ kind: 'accepted' });
      const d0 = await c.createReceiver({ source: 'mq-a', credit: 1 });
      (await d0.receive({ timeout: 5000 })).accept();
      await d0.close();

      // mq-b holds a message when its sender goes: not idle, not forgotten. mq-a is empty and unused: forgotten.
      await b.send({ body: 'kept' });
      await b.close();
      await a.close();
      const d = await c.createSender('mq-d');
      expect(d.isOpen).toBe(true);
      expect(broker.queue('mq-a')).toBeUndefined();
      expect(broker.queue('mq-b')?.depth).toBe(1);
      // Three again (mq-b with its message, mq-c with its consumer, mq-d with its producer): the next is refused.
      refusedWithMaxQueues(await c.createSender('mq-e').catch((e: unknown) => e));
      await cq.close();
      await expect(c.createSender('mq-e')).resolves.toBeDefined();
      const kept = await c.createReceiver({ source: 'mq-b', credit: 1 });
      expect((await kept.receive({ timeout: 5000 })).message.body).toBe('kept');
    },
  );

  it(
    'topic subscriptions count against maxQueues too, and closing one frees its place',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0, maxQueues: 3 });
      const c = await client();
      const sub1 = await c.createReceiver('topic://news');
      await c.createReceiver('topic://news');
      await c.createSender('tq-1');
      refusedWithMaxQueues(await c.createSender('tq-2').catch((e: unknown) => e));
      refusedWithMaxQueues(await c.createReceiver('topic://news').catch((e: unknown) => e));
      refusedWithMaxQueues(await c.createReceiver({ source: { dynamic: true } }).catch((e: unknown) => e));
      await sub1.close();
      await expect(c.createSender('tq-2')).resolves.toBeDefined();
    },
  );

  it(
    'the relay (a sender without a target) cannot make a queue past maxQueues: the message is rejected naming maxQueues',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0, maxQueues: 1 });
      const c = await client();
      await c.createReceiver('rq-1');
      const relay = await c.createSender(null);
      const refused = await relay.send({ to: 'rq-2', body: 'x' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DeliveryRejectedError);
      expect((refused as DeliveryRejectedError).condition).toBe('amqp:resource-limit-exceeded');
      expect((refused as DeliveryRejectedError).description).toMatch(/maxQueues/);
      await expect(relay.send({ to: 'rq-1', body: 'y' }, { timeout: 5000 })).resolves.toEqual({ kind: 'accepted' });
    },
  );
});

describe('maxMessageSize', () => {
  it(
    'is advertised on the producer link: a Quark sender refuses a larger message with MessageSizeExceededError before sending it',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0, maxMessageSize: 1000 });
      const c = await client();
      const sender = await c.createSender('sized');
      const big = { body: new Uint8Array(2000) };
      const err = await sender.send(big).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MessageSizeExceededError);
      expect(err).toMatchObject({
        condition: 'amqp:link:message-size-exceeded',
        maxMessageSize: 1000,
        size: encodeMessage(big).length,
      });
      // Not sent: nothing stored, and the link is still open.
      expect(broker.queue('sized')?.depth ?? 0).toBe(0);
      expect(sender.isOpen).toBe(true);
      const small = { body: new Uint8Array(900) };
      expect(encodeMessage(small).length).toBeLessThanOrEqual(1000);
      await expect(sender.send(small)).resolves.toEqual({ kind: 'accepted' });
      expect(broker.queue('sized')?.depth).toBe(1);
      expect(broker.storedBytes).toBe(encodeMessage(small).length + 128);
    },
  );

  it(
    'a peer that sends a larger message anyway has its link closed with amqp:link:message-size-exceeded, and nothing is stored',
    { timeout: 20_000 },
    async () => {
      broker = await startBroker({ port: 0, maxMessageSize: 1000 });
      const raw = await rawProducer(broker.port, ['sized-raw']);
      cleanups.push(raw.close);
      expect(raw.links[0]!.remote?.maxMessageSize).toBe(1000n);
      raw.links[0]!.send(encodeMessage({ body: new Uint8Array(5000) }));
      raw.transport.flush();
      await waitFor(() => raw.events.some((e) => e.type === 'linkRemoteClose'), 'the broker to close the link');
      const close = raw.events.find((e) => e.type === 'linkRemoteClose');
      expect(close?.type === 'linkRemoteClose' && close.error?.condition).toBe('amqp:link:message-size-exceeded');
      expect(broker.queue('sized-raw')?.depth ?? 0).toBe(0);
      expect(broker.storedBytes).toBe(0);
    },
  );
});

describe('bad limit values', () => {
  const names = [
    'queueLimit',
    'queueByteLimit',
    'storeByteLimit',
    'maxQueues',
    'maxMessageSize',
    'maxConnections',
    'maxConnectionsPerAddress',
  ] as const;
  const values = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY];
  it(
    'are refused by startBroker with an InvalidArgumentError naming the option, and nothing is left listening',
    { timeout: 30_000 },
    async () => {
      const port = await freePort();
      for (const name of names) {
        for (const value of values) {
          const options: BrokerOptions = { port, [name]: value };
          const err = await startBroker(options).then(
            async (b) => {
              await b.close();
              return undefined;
            },
            (e: unknown) => e,
          );
          expect(err, `${name}: ${value}`).toBeInstanceOf(InvalidArgumentError);
          expect((err as Error).message, `${name}: ${value}`).toMatch(new RegExp(`^${name} `));
          expect((err as Error).message, `${name}: ${value}`).toContain(String(value));
          expect(await portRefuses(port), `${name}: ${value} left the port listening`).toBe(true);
        }
      }
      // The port is really free: a good broker gets it.
      broker = await startBroker({
        port,
        queueByteLimit: 1,
        storeByteLimit: 1,
        maxQueues: 1,
        maxMessageSize: 1,
        queueLimit: 1,
      });
      expect(broker.port).toBe(port);
    },
  );
});
