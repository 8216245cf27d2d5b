/**
 * Quark's client against a real RabbitMQ 3.10 broker with the rabbitmq_amqp1_0 plugin.
 *
 * The suite runs its own private node (scripts/rabbitmq.sh: node quark-test-<port>@localhost on
 * 127.0.0.1:QUARK_RABBITMQ_PORT, default 5673), starting it when it is not up and stopping it
 * afterwards if it started it. Without RabbitMQ installed the suite fails (never skips).
 *
 * Only what RabbitMQ supports is tested here (see ../shared/PEERS.md): not the modified outcome,
 * drain, dynamic receivers, delivery annotations or amqp-value list bodies, which RabbitMQ 3.10
 * mishandles on its side.
 *
 * Every test uses its own queue (`/queue/quark-<test>-<uuid>`, made by RabbitMQ on attach).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  ConnectionClosedError,
  ConnectionLostError,
  SessionClosedError,
  TimeoutError,
  byte,
  char,
  connect,
  decimal128,
  decimal32,
  decimal64,
  double,
  float,
  int,
  long,
  short,
  symbol,
  ubyte,
  uint,
  ulong,
  ushort,
  uuid,
  type ApplicationProperties,
  type ConnectOptions,
  type Connection,
  type QuarkEvent,
  type Receiver,
} from '../../src/index.js';
import { amqpDifference } from '../support/amqp-equal.js';
import { useRabbitMq, type RabbitMq } from '../support/rabbitmq.js';

let broker: RabbitMq;
const connections: Connection[] = [];

beforeAll(async () => {
  broker = await useRabbitMq();
}, 180_000);

afterAll(async () => {
  await broker?.release();
}, 120_000);

afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close({ timeout: 5000 }).catch(() => undefined)));
});

async function connectAsGuest(options: Partial<ConnectOptions> = {}): Promise<Connection> {
  const connection = await connect({
    host: broker.host,
    port: broker.port,
    username: 'guest',
    password: 'guest',
    timeout: 15_000,
    values: 'exact',
    ...options,
  });
  connections.push(connection);
  return connection;
}

function queueAddress(test: string): string {
  return `/queue/quark-${test}-${randomUUID()}`;
}

/** Expects the receiver to get nothing more within `ms` (RabbitMQ pushes at once when it has credit). */
async function expectNothingMore(receiver: Receiver, ms = 1000): Promise<void> {
  const error = await receiver.receive({ timeout: ms }).then(
    (d) => new Error(`expected no more messages, got ${JSON.stringify(d.message.body)}`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TimeoutError);
}

describe('Quark client against RabbitMQ 3.10 (rabbitmq_amqp1_0)', () => {
  // The idle-timeout test's connection idles while the other tests run (it must stay idle 7 s).
  let idle: { connection: Connection; openedAt: number; events: QuarkEvent['type'][] } | undefined;
  beforeAll(async () => {
    const connection = await connect({
      host: broker.host,
      port: broker.port,
      username: 'guest',
      password: 'guest',
      idleTimeout: 2000,
      timeout: 15_000,
    });
    const events: QuarkEvent['type'][] = [];
    connection.events$.subscribe((e) => events.push(e.type));
    idle = { connection, openedAt: performance.now(), events };
  });
  afterAll(async () => {
    await idle?.connection.close({ timeout: 5000 }).catch(() => undefined);
  });

  it('logs in with SASL PLAIN as guest/guest and opens the connection', async () => {
    const connection = await connectAsGuest();
    expect(connection.isOpen).toBe(true);
    expect(typeof connection.remoteContainerId).toBe('string');
    expect(connection.remoteProperties?.product).toBe('RabbitMQ');
  });

  it('a wrong password fails connect() with an AuthenticationError saying the credentials were refused', async () => {
    const error = await connect({
      host: broker.host,
      port: broker.port,
      username: 'guest',
      password: 'not-the-password',
      timeout: 15_000,
    }).then(
      (c) => {
        connections.push(c);
        return new Error('connect() resolved with a wrong password');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).condition).toBe('amqp:unauthorized-access');
    expect((error as AuthenticationError).message).toMatch(/refused the credentials.*user name and password/);
  });

  it('a message sent to /queue/NAME arrives at a receiver of /queue/NAME with its header, properties, application properties and body', async () => {
    const connection = await connectAsGuest();
    const address = queueAddress('roundtrip');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver(address);
    expect(sender.address).toBe(address);
    expect(receiver.address).toBe(address);
    const created = new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123));
    const outcome = await sender.send({
      durable: true,
      priority: 7,
      messageId: 'id-1',
      correlationId: 42n, // a ulong
      subject: 'greeting',
      replyTo: '/queue/replies',
      contentType: 'text/plain',
      creationTime: created,
      groupId: 'g',
      groupSequence: 3,
      messageAnnotations: { 'x-opt-note': 'kept' },
      applicationProperties: { colour: 'red', n: 1 },
      body: 'hello RabbitMQ',
    });
    expect(outcome?.kind).toBe('accepted');
    const delivery = await receiver.receive({ timeout: 10_000 });
    const m = delivery.message;
    expect(m.durable).toBe(true);
    expect(m.priority).toBe(7);
    expect(m.messageId).toBe('id-1');
    expect(m.correlationId).toEqual(ulong(42n)); // a ulong message id decodes (exactly) as a ulong
    expect(m.subject).toBe('greeting');
    expect(m.replyTo).toBe('/queue/replies');
    expect(m.contentType).toBe('text/plain');
    expect(m.creationTime).toEqual(created);
    expect(m.groupId).toBe('g');
    expect(m.groupSequence).toBe(3);
    expect(m.messageAnnotations?.['x-opt-note']).toBe('kept');
    expect(m.applicationProperties).toEqual({ colour: 'red', n: 1 });
    expect(m.bodyType).toBe('value');
    expect(m.body).toBe('hello RabbitMQ');
    delivery.accept();
    await expectNothingMore(receiver, 500);
  });

  it('accept settles the message for good: it is not delivered again', async () => {
    const connection = await connectAsGuest();
    const address = queueAddress('accept');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver(address);
    await sender.send({ messageId: 'a', body: 'accepted' });
    const delivery = await receiver.receive({ timeout: 10_000 });
    expect(delivery.message.body).toBe('accepted');
    expect(delivery.message.firstAcquirer ?? true).toBe(true);
    delivery.accept();
    expect(delivery.settled).toBe(true);
    expect(delivery.state?.kind).toBe('accepted');
    await expectNothingMore(receiver);
    // Nor to a new receiver: the queue is empty.
    await receiver.close();
    const again = await connection.createReceiver(address);
    await expectNothingMore(again, 500);
  });

  it('release gives the message back: RabbitMQ delivers it again, marked as redelivered', async () => {
    const connection = await connectAsGuest();
    const address = queueAddress('release');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver(address);
    await sender.send({ messageId: 'r', body: 'released' });
    const first = await receiver.receive({ timeout: 10_000 });
    expect(first.message.messageId).toBe('r');
    expect(first.message.firstAcquirer ?? true).toBe(true);
    first.release();
    expect(first.state?.kind).toBe('released');
    const second = await receiver.receive({ timeout: 10_000 });
    expect(second.message.messageId).toBe('r');
    expect(second.message.body).toBe('released');
    expect(second.message.firstAcquirer).toBe(false);
    second.accept();
    await expectNothingMore(receiver);
  });

  it('reject drops the message: it is not delivered again and the messages after it still come', async () => {
    const connection = await connectAsGuest();
    const address = queueAddress('reject');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver(address);
    await sender.send({ messageId: 'bad', body: 'rejected' });
    const bad = await receiver.receive({ timeout: 10_000 });
    expect(bad.message.messageId).toBe('bad');
    bad.reject({ condition: 'amqp:precondition-failed', description: 'not wanted' });
    expect(bad.state?.kind).toBe('rejected');
    await sender.send({ messageId: 'good', body: 'after' });
    const good = await receiver.receive({ timeout: 10_000 });
    expect(good.message.messageId).toBe('good');
    good.accept();
    await expectNothingMore(receiver);
  });

  it('5 MiB messages go to the broker and come back intact, each in many frames', async () => {
    const connection = await connectAsGuest();
    const address = queueAddress('large');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver({ source: address, credit: 2 });
    const binary = randomBytes(5 * 1024 * 1024);
    const text = randomBytes((5 * 1024 * 1024) / 2).toString('hex'); // 5 MiB of ASCII
    const maxFrame = Number(connection.remoteOpen?.maxFrameSize ?? 0xffffffff);
    expect(Math.min(maxFrame, 262144)).toBeLessThan(binary.length / 10);
    const [a, b] = await Promise.all([
      sender.send({ messageId: 'binary', body: binary }),
      sender.send({ messageId: 'text', body: text }),
    ]);
    expect(a?.kind).toBe('accepted');
    expect(b?.kind).toBe('accepted');
    const d1 = await receiver.receive({ timeout: 30_000 });
    const d2 = await receiver.receive({ timeout: 30_000 });
    expect(d1.message.messageId).toBe('binary');
    expect(d1.message.bodyType).toBe('data');
    expect(Buffer.compare(Buffer.from(d1.message.body as Uint8Array), binary)).toBe(0);
    expect(d2.message.messageId).toBe('text');
    expect(d2.message.body).toBe(text);
    d1.accept();
    d2.accept();
  });

  it('3000 at-least-once messages are all accepted by the broker and all received once, in order', async () => {
    const connection = await connectAsGuest();
    const address = queueAddress('many');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver({ source: address, credit: 200 });
    const count = 3000;
    const received: number[] = [];
    const consumed = (async () => {
      while (received.length < count) {
        const d = await receiver.receive({ timeout: 20_000 });
        received.push(d.message.body as number);
        d.accept();
      }
    })();
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) => sender.send({ messageId: `m-${i}`, body: i })),
    );
    expect(outcomes.filter((o) => o?.kind === 'accepted')).toHaveLength(count);
    await consumed;
    expect(received).toEqual(Array.from({ length: count }, (_, i) => i));
    await expectNothingMore(receiver, 500);
  });

  it('application properties of every simple AMQP type come back with their types and values', async () => {
    const connection = await connectAsGuest();
    const address = queueAddress('app-props');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver(address);
    const properties: ApplicationProperties = {
      null: null,
      boolTrue: true,
      boolFalse: false,
      ubyte: ubyte(255),
      ushort: ushort(65535),
      uint: uint(4294967295),
      ulong: ulong(18446744073709551615n),
      ulongSmall: ulong(7),
      byte: byte(-128),
      short: short(-32768),
      int: int(-2147483648),
      intSmall: 5,
      long: long(-9223372036854775808n),
      float: float(1.5),
      double: double(-2.25),
      decimal32: decimal32(Uint8Array.from([0x22, 0x50, 0x00, 0x01])),
      decimal64: decimal64(Uint8Array.from([0x22, 0x38, 0, 0, 0, 0, 0, 0x07])),
      decimal128: decimal128(Uint8Array.from([0x22, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a])),
      char: char('√'),
      timestamp: new Date(Date.UTC(2001, 8, 9, 1, 46, 40, 5)),
      uuid: uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
      binary: Uint8Array.from([0, 1, 2, 0xfe, 0xff]),
      string: 'grüße, 世界',
      emptyString: '',
      symbol: symbol('a-symbol'),
    };
    await sender.send({ applicationProperties: properties, body: 'typed' });
    const delivery = await receiver.receive({ timeout: 10_000 });
    const got = delivery.message.applicationProperties ?? {};
    expect(Object.keys(got)).toEqual(Object.keys(properties));
    for (const [key, value] of Object.entries(properties)) {
      expect(amqpDifference(got[key], value, key)).toBeUndefined();
    }
    delivery.accept();
  });

  it('with a 2 s idle timeout, an idle connection stays open for 7 s: both sides send empty frames', async () => {
    // The connection was opened before the first test and has carried no traffic since.
    const { connection, openedAt, events } = idle!;
    // The node runs with heartbeat = 1 (scripts/rabbitmq.sh), so RabbitMQ too expects frames from us
    // and drops a client silent for 4 to 6 s.
    const brokerIdle = Number(connection.remoteOpen?.idleTimeOut);
    const hint = 'the node must run with heartbeat = 1 (an old node? restart it: scripts/rabbitmq.sh stop)';
    expect(brokerIdle, hint).toBeGreaterThan(0);
    expect(brokerIdle, hint).toBeLessThanOrEqual(2000);
    const idleFor = 7000 - (performance.now() - openedAt);
    if (idleFor > 0) await new Promise((r) => setTimeout(r, idleFor));
    expect(events).toEqual([]);
    expect(connection.isOpen).toBe(true);
    // And it still works.
    const address = queueAddress('idle');
    const sender = await connection.createSender(address);
    const receiver = await connection.createReceiver(address);
    await sender.send({ body: 'still here' });
    const d = await receiver.receive({ timeout: 10_000 });
    expect(d.message.body).toBe('still here');
    d.accept();
    await connection.close();
  }, 30_000);

  it("close_all_connections ends the session: a pending receive() rejects with a SessionClosedError carrying RabbitMQ's condition, and the connection makes a new session", async () => {
    // RabbitMQ 3.10 closes the internal connection behind each AMQP 1.0 session and sends `end`
    // with amqp:internal-error; the AMQP 1.0 connection itself stays open.
    const connection = await connectAsGuest();
    const address = queueAddress('close-all');
    const receiver = await connection.createReceiver(address);
    const pending = receiver.receive().then(
      () => new Error('receive() resolved on an ended session'),
      (e: unknown) => e,
    );
    await broker.ctl('close_all_connections', 'quark interop test');
    const error = await pending;
    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).condition).toBe('amqp:internal-error');
    expect((error as SessionClosedError).byPeer).toBe(true);
    expect(receiver.isOpen).toBe(false);
    expect(receiver.session.isOpen).toBe(false);
    await expect(receiver.receive()).rejects.toBeInstanceOf(SessionClosedError);
    // The connection is still good: the next link gets a new default session.
    expect(connection.isOpen).toBe(true);
    const sender = await connection.createSender(address);
    const again = await connection.createReceiver(address);
    expect(sender.session).not.toBe(receiver.session);
    await sender.send({ body: 'after close_all_connections' });
    const d = await again.receive({ timeout: 10_000 });
    expect(d.message.body).toBe('after close_all_connections');
    d.accept();
  });

  it('with reconnect off, a connection the broker drops rejects a pending receive() with ConnectionLostError, emits disconnected then closed, and fails later calls with the same error, with no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const connection = await connectAsGuest({ reconnect: false });
      const events: QuarkEvent[] = [];
      const ended = new Promise<void>((resolve) => {
        connection.events$.subscribe({
          next: (e) => {
            if (e.type === 'closed' || e.type === 'disconnected') events.push(e);
          },
          complete: () => resolve(),
        });
      });
      const address = queueAddress('dropped');
      const receiver = await connection.createReceiver(address);
      const sender = await connection.createSender(address);
      const pendingReceive = receiver.receive().then(
        () => new Error('receive() resolved on a dropped connection'),
        (e: unknown) => e,
      );
      await broker.dropConnections();
      const error = await pendingReceive;
      expect(error).toBeInstanceOf(ConnectionLostError);
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect((error as ConnectionLostError).condition).toBe('amqp:connection:forced');
      await ended;
      expect(events.map((e) => e.type)).toEqual(['disconnected', 'closed']);
      expect(connection.isOpen).toBe(false);
      expect(connection.error).toBeInstanceOf(ConnectionLostError);
      // What is asked afterwards fails with the same typed error, at once.
      await expect(receiver.receive()).rejects.toBeInstanceOf(ConnectionLostError);
      await expect(sender.send({ body: 'too late' })).rejects.toBeInstanceOf(ConnectionLostError);
      await expect(connection.createSender(address)).rejects.toBeInstanceOf(ConnectionLostError);
      await connection.close();
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
