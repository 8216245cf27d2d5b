/**
 * Per-user permissions of the embedded broker: who may send to, receive from, and create dynamic
 * nodes, by address pattern (`*` for any run of characters). The identity is the SASL user name
 * (`anonymous` for ANONYMOUS and clients without SASL). A refused attach fails with
 * amqp:unauthorized-access naming the user and the address; the anonymous relay is checked
 * message by message. Bad permission shapes are refused at startBroker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  DeliveryRejectedError,
  LinkClosedError,
  connect,
  startBroker,
  type AddressPermissions,
  type Broker,
  type BrokerOptions,
  type Connection,
} from '../../src/index.js';
import { freePort, portRefuses } from '../support/raw-sasl-client.js';

let broker: Broker;
let alice: Connection;
let bob: Connection;
let anonymous: Connection;
let noSasl: Connection;

beforeAll(async () => {
  broker = await startBroker({
    port: 0,
    users: { alice: 'a', bob: 'b' },
    allowAnonymous: true,
    permissions: {
      alice: { send: ['orders'], receive: ['replies.*'], dynamic: true },
      anonymous: { receive: ['public'] },
    },
  });
  alice = await connect({ url: broker.url, username: 'alice', password: 'a', reconnect: false });
  bob = await connect({ url: broker.url, username: 'bob', password: 'b', reconnect: false });
  anonymous = await connect({ url: broker.url, reconnect: false });
  noSasl = await connect({ url: broker.url, sasl: false, reconnect: false });
}, 30_000);

afterAll(async () => {
  for (const c of [alice, bob, anonymous, noSasl]) await c?.close().catch(() => undefined);
  await broker?.close();
}, 30_000);

/** Expects the attach to have been refused with amqp:unauthorized-access and exactly this description. */
async function refused(attach: Promise<unknown>, description: string): Promise<void> {
  const err = await attach.then(
    () => new Error('the attach was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LinkClosedError);
  expect((err as LinkClosedError).condition).toBe('amqp:unauthorized-access');
  expect((err as LinkClosedError).description).toBe(description);
}

describe('broker permissions', () => {
  it('the identities are the logged-in users', { timeout: 10_000 }, () => {
    expect(alice.authentication).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'alice' });
    expect(bob.authentication).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'bob' });
    expect(anonymous.authentication).toEqual({ mechanism: 'ANONYMOUS' });
    expect(noSasl.authentication).toBeUndefined();
  });

  it('alice may send to orders, and not to another address', { timeout: 10_000 }, async () => {
    const s = await alice.createSender('orders');
    await expect(s.send({ body: 'order 1' })).resolves.toEqual({ kind: 'accepted' });
    await s.close();
    await refused(alice.createSender('other'), 'user alice may not send to other');
    await refused(alice.createSender('orders.x'), 'user alice may not send to orders.x');
    expect(broker.queue('other')).toBeUndefined();
  });

  it(
    'alice may receive from replies.* (any run of characters, dots taken literally), not from orders',
    { timeout: 10_000 },
    async () => {
      for (const address of ['replies.x', 'replies.x.y', 'replies.']) {
        const r = await alice.createReceiver(address);
        expect(r.isOpen, address).toBe(true);
        await r.close();
      }
      await refused(alice.createReceiver('repliesx'), 'user alice may not receive from repliesx');
      await refused(alice.createReceiver('orders'), 'user alice may not receive from orders');
      await refused(
        alice.createReceiver({ source: { address: 'orders', distributionMode: 'copy' } }),
        'user alice may not receive from orders',
      );
      await refused(alice.createReceiver('x.replies.y'), 'user alice may not receive from x.replies.y');
    },
  );

  it(
    'a dynamic receiver (and a dynamic target) is allowed for alice and refused for bob',
    { timeout: 10_000 },
    async () => {
      const r = await alice.createReceiver({ source: { dynamic: true } });
      expect(r.address).toMatch(/^temp-queue:\/\//);
      await r.close();
      const s = await alice.createSender({ target: { dynamic: true } });
      expect(s.address).toMatch(/^temp-queue:\/\//);
      await s.close();
      await refused(bob.createReceiver({ source: { dynamic: true } }), 'user bob may not create dynamic nodes');
      await refused(bob.createSender({ target: { dynamic: true } }), 'user bob may not create dynamic nodes');
    },
  );

  it('bob, who has no entry, may do nothing', { timeout: 10_000 }, async () => {
    await refused(bob.createSender('orders'), 'user bob may not send to orders');
    await refused(bob.createReceiver('orders'), 'user bob may not receive from orders');
    await refused(bob.createReceiver('public'), 'user bob may not receive from public');
    await refused(bob.createReceiver('replies.x'), 'user bob may not receive from replies.x');
    await refused(bob.createReceiver('topic://news'), 'user bob may not receive from topic://news');
  });

  it(
    'anonymous (SASL ANONYMOUS, and a client without SASL) may receive from public only',
    { timeout: 10_000 },
    async () => {
      for (const [who, c] of [
        ['ANONYMOUS', anonymous],
        ['no SASL', noSasl],
      ] as const) {
        const r = await c.createReceiver('public');
        expect(r.isOpen, who).toBe(true);
        await r.close();
        await refused(c.createSender('public'), 'user anonymous may not send to public');
        await refused(c.createReceiver('orders'), 'user anonymous may not receive from orders');
        await refused(c.createReceiver({ source: { dynamic: true } }), 'user anonymous may not create dynamic nodes');
      }
    },
  );

  it('the connection survives refusals: links that are allowed still work on it', { timeout: 10_000 }, async () => {
    await refused(alice.createSender('nope'), 'user alice may not send to nope');
    const s = await alice.createSender('orders');
    await expect(s.send({ body: 'after a refusal' })).resolves.toEqual({ kind: 'accepted' });
    await s.close();
    expect(alice.isOpen).toBe(true);
  });

  it(
    'the anonymous relay checks each message: to a forbidden address rejected with amqp:unauthorized-access, to orders accepted (alice); everything rejected for bob',
    { timeout: 10_000 },
    async () => {
      const before = broker.queue('orders')?.depth ?? 0;
      const relay = await alice.createSender(null);
      const err = await relay.send({ to: 'forbidden', body: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeliveryRejectedError);
      expect((err as DeliveryRejectedError).condition).toBe('amqp:unauthorized-access');
      expect((err as DeliveryRejectedError).description).toBe('user alice may not send to forbidden');
      await expect(relay.send({ to: 'orders', body: 'via relay' })).resolves.toEqual({ kind: 'accepted' });
      expect(broker.queue('orders')?.depth).toBe(before + 1);
      expect(broker.queue('forbidden')).toBeUndefined();
      // The relay link is still usable after a rejection.
      expect(relay.isOpen).toBe(true);
      await relay.close();

      const bobRelay = await bob.createSender(null);
      const bobErr = await bobRelay.send({ to: 'orders', body: 'y' }).catch((e: unknown) => e);
      expect(bobErr).toBeInstanceOf(DeliveryRejectedError);
      expect((bobErr as DeliveryRejectedError).condition).toBe('amqp:unauthorized-access');
      expect((bobErr as DeliveryRejectedError).description).toBe('user bob may not send to orders');
      expect(broker.queue('orders')?.depth).toBe(before + 1);
      await bobRelay.close();
    },
  );
});

describe('bad permission shapes', () => {
  const startWith = (permissions: unknown, port: number): Promise<unknown> =>
    startBroker({ port, users: { alice: 'a' }, permissions: permissions as BrokerOptions['permissions'] }).then(
      async (b) => {
        await b.close();
        return undefined;
      },
      (e: unknown) => e,
    );

  it(
    'an unknown key, a pattern that is not a non-empty string, or an entry that is not an object: InvalidArgumentError at startBroker, nothing listening',
    { timeout: 20_000 },
    async () => {
      const port = await freePort();
      const cases: [unknown, RegExp][] = [
        [
          { alice: { write: ['orders'] } },
          /^permissions\["alice"\]: unknown key "write" \(known: send, receive, dynamic\)$/,
        ],
        [{ alice: { send: [42] } }, /^permissions\["alice"\]\.send: a pattern must be a non-empty string, got 42$/],
        [
          { alice: { receive: ['ok', null] } },
          /^permissions\["alice"\]\.receive: a pattern must be a non-empty string, got null$/,
        ],
        [{ alice: { send: [''] } }, /^permissions\["alice"\]\.send: a pattern must be a non-empty string, got ""$/],
        [{ alice: null }, /^permissions\["alice"\] must be an object/],
        [{ alice: 'everything' }, /^permissions\["alice"\] must be an object/],
      ];
      for (const [permissions, message] of cases) {
        const err = await startWith(permissions, port);
        expect(err, JSON.stringify(permissions)).toBeInstanceOf(InvalidArgumentError);
        expect((err as Error).message, JSON.stringify(permissions)).toMatch(message);
        expect(await portRefuses(port)).toBe(true);
      }
    },
  );

  it(
    'send/receive that are not arrays, and a dynamic that is not a boolean, are refused too, naming the field',
    { timeout: 20_000 },
    async () => {
      const port = await freePort();
      const cases: [AddressPermissions | unknown, RegExp][] = [
        [{ alice: { send: 'orders' } }, /permissions\["alice"\]\.send/],
        [{ alice: { receive: 'replies.*' } }, /permissions\["alice"\]\.receive/],
        [{ alice: { dynamic: 'yes' } }, /permissions\["alice"\]\.dynamic/],
      ];
      for (const [permissions, message] of cases) {
        const err = await startWith(permissions, port);
        expect(err, JSON.stringify(permissions)).toBeInstanceOf(InvalidArgumentError);
        expect((err as Error).message, JSON.stringify(permissions)).toMatch(message);
        expect(await portRefuses(port)).toBe(true);
      }
    },
  );
});
