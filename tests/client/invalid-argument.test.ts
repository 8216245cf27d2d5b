/**
 * Bad input is refused at once with an error of Quark's tree, never a TypeError or RangeError:
 * each family (URLs, options, ports, values and messages, signals, TLS material, clear-text
 * passwords, listening) is an AmqpError subclass carrying its condition, and its message names
 * what was wrong. Nothing here reaches beyond loopback: the "remote" peer is a documentation
 * address (192.0.2.1, TEST-NET-1) that the clear-text refusal stops before any socket is opened.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AmqpError,
  EncodeError,
  InsecurePlainError,
  InvalidArgumentError,
  ListenError,
  SaslUsers,
  connect,
  decodeMessage,
  encodeMessage,
  encodeValue,
  listen,
  startBroker,
  type Broker,
  type Connection,
  type ConnectOptions,
  type ListenOptions,
} from '../../src/index.js';

let broker: Broker;
let conn: Connection;

beforeAll(async () => {
  broker = await startBroker({ port: 0 });
  conn = await connect({ url: broker.url, reconnect: false });
});

afterAll(async () => {
  await conn?.close();
  await broker?.close();
});

/** What a call threw or rejected with (a call that succeeds fails the test). */
async function failureOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

type Case = [what: string, call: () => unknown, message: RegExp];

/** Every case fails with `kind` and `condition`, and with a message matching its pattern. */
async function expectRefused(
  cases: Case[],
  kind: abstract new (...args: never[]) => AmqpError,
  condition: string,
): Promise<void> {
  for (const [what, call, message] of cases) {
    const error = await failureOf(call);
    expect(error, what).toBeInstanceOf(kind);
    expect((error as AmqpError).condition, what).toBe(condition);
    expect((error as AmqpError).message, what).toMatch(message);
    expect(error, what).not.toBeInstanceOf(TypeError);
  }
}

const asOptions = (o: unknown): ConnectOptions => o as ConnectOptions;
const asListenOptions = (o: unknown): ListenOptions => o as ListenOptions;

describe('bad input is an InvalidArgumentError (quark:invalid-argument) naming what was wrong', () => {
  it('URLs: not a string, an unknown scheme, no host, not a URL', async () => {
    await expectRefused(
      [
        ['empty URL', () => connect(''), /must be a non-empty string/],
        [
          'scheme',
          () => connect('http://localhost:5672'),
          /unsupported URL scheme "http".*use amqp:\/\/, amqps:\/\/, ws:\/\/ or wss:\/\//,
        ],
        ['port out of range', () => connect('amqp://localhost:99999'), /is not valid; expected amqp\[s\]:\/\//],
        ['url option', () => connect(asOptions({ url: 5 })), /connect: url must be a non-empty string/],
      ],
      InvalidArgumentError,
      'quark:invalid-argument',
    );
  });

  it('ports: connect and listen take 1-65535 (listen also 0, a free port)', async () => {
    await expectRefused(
      [
        ['connect port 0', () => connect({ host: '127.0.0.1', port: 0 }), /port must be from 1 to 65535, got 0/],
        [
          'connect port 70000',
          () => connect({ host: '127.0.0.1', port: 70000 }),
          /port must be from 1 to 65535, got 70000/,
        ],
        ['listen port 70000', () => listen({ port: 70000 }), /listen: port must be a whole number from 0 to 65535/],
        [
          'startBroker port -1',
          () => startBroker({ port: -1 }),
          /port must be a whole number from 0 to 65535 \(0 picks a free port\), got -1/,
        ],
        ['listen host', () => listen({ port: 0, host: '' }), /listen: host must be a non-empty host name/],
      ],
      InvalidArgumentError,
      'quark:invalid-argument',
    );
  });

  it('options: unknown keys and values of the wrong kind or range, for connect, sessions, links, sends, listen and the broker', async () => {
    await expectRefused(
      [
        ['connect(5)', () => connect(5 as unknown as string), /connect takes a URL string or an options object/],
        [
          'misspelt',
          () => connect(asOptions({ url: broker.url, reconect: false })),
          /connect: unknown option "reconect"/,
        ],
        ['host kind', () => connect(asOptions({ host: 5 })), /connect: host must be a non-empty string, got 5/],
        [
          'idleTimeout',
          () => connect({ url: broker.url, idleTimeout: -1 }),
          /idleTimeout must be a non-negative number of milliseconds/,
        ],
        [
          'maxFrameSize',
          () => connect({ url: broker.url, maxFrameSize: 3 }),
          /maxFrameSize must be a whole number of bytes from 512/,
        ],
        ['lookup', () => connect(asOptions({ url: broker.url, lookup: 'dns' })), /lookup must be a function/],
        [
          'reconnect',
          () => connect(asOptions({ url: broker.url, reconnect: 'yes' })),
          /reconnect must be true, false or an object/,
        ],
        [
          'session window',
          () => conn.createSession({ incomingWindow: -1 }),
          /incomingWindow must be a whole number of transfer frames/,
        ],
        [
          'session option',
          () => conn.createSession(asOptions({ window: 1 })),
          /createSession: unknown option "window"/,
        ],
        [
          'credit',
          () => conn.createReceiver('q', { credit: -1 }),
          /credit must be a whole number from 0 to 4294967295/,
        ],
        ['deliveryMode', () => conn.createSender('q', { deliveryMode: 'sometimes' as never }), /deliveryMode must be/],
        [
          'timeout',
          () => conn.createSender('q', { timeout: Number.NaN }),
          /timeout must be a non-negative number of milliseconds/,
        ],
        ['listen option', () => listen(asListenOptions({ port: 0, backlog: 5 })), /listen: unknown option "backlog"/],
        [
          'broker limit',
          () => startBroker({ port: 0, queueLimit: 0 }),
          /queueLimit must be a whole number of at least 1/,
        ],
        ['SaslUsers', () => SaslUsers.fromPasswords(null as never), /SaslUsers.fromPasswords needs an object/],
      ],
      InvalidArgumentError,
      'quark:invalid-argument',
    );
  });

  it('messages and sends: a send needs a message object, sendAll an iterable; nothing is sent', async () => {
    const sender = await conn.createSender('invalid-argument-sends');
    await expectRefused(
      [
        ['send(null)', () => sender.send(null as never), /send needs a message object/],
        ['send options', () => sender.send({ body: 1 }, null as never), /send options must be an object/],
        [
          'sendAll(null)',
          () => sender.sendAll(null as never),
          /sendAll needs an iterable or async iterable of messages/,
        ],
      ],
      InvalidArgumentError,
      'quark:invalid-argument',
    );
    await sender.close();
    expect(broker.queue('invalid-argument-sends')?.depth ?? 0).toBe(0);
  });

  it('signals: something that is not an AbortSignal is refused, not ignored', async () => {
    const receiver = await conn.createReceiver('invalid-argument-signal');
    await expectRefused(
      [
        ['connect', () => connect(asOptions({ url: broker.url, signal: 5 })), /connect: signal must be an AbortSignal/],
        ['receive', () => receiver.receive({ signal: {} as AbortSignal }), /signal must be an AbortSignal/],
        ['listen', () => listen(asListenOptions({ port: 0, signal: 'stop' })), /listen: signal must be an AbortSignal/],
      ],
      InvalidArgumentError,
      'quark:invalid-argument',
    );
    await receiver.close();
  });

  it('TLS material that cannot be used is refused before any socket is opened', async () => {
    await expectRefused(
      [
        [
          'connect ca',
          () => connect(asOptions({ url: 'amqps://127.0.0.1:1', tls: { ca: 5 }, reconnect: false })),
          /connect: the tls options cannot be used/,
        ],
        [
          'connect key',
          () =>
            connect(
              asOptions({
                url: 'amqps://127.0.0.1:1',
                tls: { key: 'not a key', cert: 'not a certificate' },
                reconnect: false,
              }),
            ),
          /the tls options cannot be used/,
        ],
        [
          'listen key',
          () => listen(asListenOptions({ port: 0, tls: { key: 5 } })),
          /listen: the tls options cannot be used/,
        ],
      ],
      InvalidArgumentError,
      'quark:invalid-argument',
    );
  });
});

describe('values that have no AMQP encoding are an EncodeError (amqp:invalid-field)', () => {
  it('encodeValue, encodeMessage and send refuse them at once', async () => {
    const sender = await conn.createSender('invalid-argument-values');
    await expectRefused(
      [
        ['a function', () => encodeValue((() => 1) as never), /a function has no AMQP encoding/],
        ['no message', () => encodeMessage(null as never), /encodeMessage needs a message object/],
        ['send a function', () => sender.send({ body: (() => 1) as never }), /a function has no AMQP encoding/],
      ],
      EncodeError,
      'amqp:invalid-field',
    );
    await sender.close();
  });

  it('a message key no message has is refused, not dropped, with the key it was probably meant to be', async () => {
    const sender = await conn.createSender('invalid-argument-message-keys');
    const received = await conn.createReceiver('invalid-argument-message-keys');
    await expectRefused(
      [
        // Proton's name for application properties
        [
          'properties',
          () => encodeMessage({ properties: { a: 1 } } as never),
          /message\.properties .*applicationProperties/,
        ],
        // rhea's spelling
        ['message_id', () => sender.send({ message_id: 'm-1', body: 1 } as never), /message\.message_id .*`messageId`/],
        ['reply_to', () => encodeMessage({ reply_to: 'here' } as never), /did you mean `replyTo`/],
        ['unknown', () => encodeMessage({ body: 1, colour: 'red' } as never), /message\.colour .*keys are durable, /],
        [
          'a class instance',
          () => encodeMessage(Object.assign(new (class Letter {})(), { body: 1, stamp: true }) as never),
          /message\.stamp/,
        ],
      ],
      EncodeError,
      'amqp:invalid-field',
    );
    // A key set to undefined carries nothing, and a received message encodes again as it came.
    const message = { messageId: 'm-2', applicationProperties: { n: 1 }, body: 'two', footer: { f: 1 } };
    await sender.send({ ...message, colour: undefined } as never);
    const delivery = await received.receive();
    delivery.accept();
    expect(decodeMessage(encodeMessage(delivery.message))).toEqual(delivery.message);
    expect(delivery.message).toMatchObject(message);
    await sender.close();
    await received.close();
  });
});

describe('a password in clear text to another machine is an InsecurePlainError (quark:insecure-plain)', () => {
  it('is refused before any socket is opened, is an InvalidArgumentError too, and is not retried', async () => {
    const connects: unknown[] = [];
    const originalConnect = net.Socket.prototype.connect;
    net.Socket.prototype.connect = function (this: net.Socket, ...args: Parameters<typeof originalConnect>) {
      connects.push(args[0]);
      return originalConnect.apply(this, args);
    } as typeof originalConnect;
    try {
      await expectRefused(
        [
          // 192.0.2.1 is TEST-NET-1: an address literal needs no lookup, and nothing is sent to it.
          [
            'remote PLAIN',
            () =>
              connect({
                url: 'amqp://u:p@192.0.2.1:5672',
                sasl: { mechanisms: ['PLAIN'] },
                reconnect: { retryFirstConnect: true },
              }),
            /Refusing to send a password in clear text to 192\.0\.2\.1.*use amqps:\/\/ \(TLS\)/,
          ],
          [
            'allowInsecurePlain false',
            () =>
              connect({ url: 'amqp://u:p@127.0.0.1:1', allowInsecurePlain: false, sasl: { mechanisms: ['PLAIN'] } }),
            /allowInsecurePlain: false/,
          ],
        ],
        InsecurePlainError,
        'quark:insecure-plain',
      );
      expect(
        await failureOf(() => connect({ url: 'amqp://u:p@192.0.2.1:5672', sasl: { mechanisms: ['PLAIN'] } })),
      ).toBeInstanceOf(InvalidArgumentError);
      expect(connects).toEqual([]);
    } finally {
      net.Socket.prototype.connect = originalConnect;
    }
  });
});

describe('a port that cannot be bound is a ListenError (quark:listen-failed), with what to do', () => {
  it('a port in use, and a host that is not this machine', async () => {
    const refused = await failureOf(() => listen({ port: broker.port }));
    expect(refused).toBeInstanceOf(ListenError);
    expect((refused as ListenError).condition).toBe('quark:listen-failed');
    expect((refused as ListenError).code).toBe('EADDRINUSE');
    expect((refused as ListenError).message).toMatch(
      new RegExp(
        `cannot listen on 127\\.0\\.0\\.1:${broker.port}: the port is in use: stop what listens there, or pick another port`,
      ),
    );
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: bind fails locally, nothing is sent.
    const elsewhere = await failureOf(() => startBroker({ host: '192.0.2.1', port: 0 }));
    expect(elsewhere).toBeInstanceOf(ListenError);
    expect((elsewhere as ListenError).code).toBe('EADDRNOTAVAIL');
    expect((elsewhere as ListenError).message).toMatch(/192\.0\.2\.1 is not an address of this machine/);
  });
});
