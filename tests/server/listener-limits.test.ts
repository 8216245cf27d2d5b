/**
 * How many connections a listener holds at once, in all (maxConnections) and from one client
 * address (maxConnectionsPerAddress). One past the limit is refused before any credential is
 * looked at: with SASL by the outcome sys-temp (which a Quark client reports as a retryable
 * ConnectionClosedError, amqp:resource-limit-exceeded), without SASL by an open followed by a
 * close with amqp:resource-limit-exceeded. A refused client is never handed to the application
 * (connections$), and once a connection goes, the next client gets in.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  AuthenticationError,
  ConnectionClosedError,
  connect,
  listen,
  type ConnectOptions,
  type Connection,
  type ListenOptions,
  type Listener,
  type SaslCredentials,
} from '../../src/index.js';
import { RawSaslClient } from '../support/raw-sasl-client.js';

let listener: Listener | undefined;
const conns: Connection[] = [];
const raws: RawSaslClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) await r.destroy();
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  await listener?.close();
  listener = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** A listener that counts its authenticate calls and the connections it hands out. */
async function countingListener(
  options: ListenOptions,
  check: (c: SaslCredentials) => boolean = (c) => c.username === 'u' && c.password === 'pw',
) {
  const calls: SaslCredentials[] = [];
  const emitted: Connection[] = [];
  const l = await listen({
    port: 0,
    ...options,
    sasl:
      options.sasl === false
        ? false
        : {
            ...options.sasl,
            authenticate: (c) => {
              calls.push(c);
              return check(c);
            },
          },
  });
  l.connections$.subscribe((c) => emitted.push(c));
  return { listener: l, calls, emitted };
}

async function client(options: ConnectOptions): Promise<Connection> {
  const c = await connect({ reconnect: false, ...options });
  conns.push(c);
  return c;
}

/** Runs `fn` with every socket Quark opens bound to `localAddress` (Quark has no option for it). */
async function fromLocalAddress<T>(localAddress: string, fn: () => Promise<T>): Promise<T> {
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: Parameters<typeof original>) {
    const first: unknown = args[0];
    const o = (Array.isArray(first) ? first[0] : first) as { localAddress?: string } | undefined;
    if (o && typeof o === 'object') o.localAddress = localAddress;
    return original.apply(this, args);
  } as typeof original;
  try {
    return await fn();
  } finally {
    net.Socket.prototype.connect = original;
  }
}

describe('maxConnections', () => {
  it(
    'with SASL, a third client gets outcome sys-temp: Quark reports a ConnectionClosedError amqp:resource-limit-exceeded (not an AuthenticationError); authenticate is not called; connections$ does not see it',
    { timeout: 20_000 },
    async () => {
      const { listener: l, calls, emitted } = await countingListener({ maxConnections: 2, failedLoginDelay: 3000 });
      listener = l;
      const a = await client({ url: l.url, username: 'u', password: 'pw' });
      await client({ url: l.url, username: 'u', password: 'pw' });
      expect(calls).toHaveLength(2);
      await waitFor(() => emitted.length === 2, 'both connections on connections$');

      const t0 = performance.now();
      const err = await connect({ url: l.url, username: 'u', password: 'pw', reconnect: false }).catch(
        (e: unknown) => e,
      );
      const took = performance.now() - t0;
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect(err).not.toBeInstanceOf(AuthenticationError);
      expect((err as ConnectionClosedError).condition).toBe('amqp:resource-limit-exceeded');
      expect((err as Error).message).toMatch(/sys-temp/);
      // Refused at once: not held like a failed login (failedLoginDelay is 3 s here), and no credential was checked.
      expect(took).toBeLessThan(1500);
      expect(calls).toHaveLength(2);
      await sleep(50);
      expect(emitted).toHaveLength(2);
      expect(l.connections).toHaveLength(2);

      // One of the two goes: the next client gets in.
      await a.close();
      await waitFor(() => l.connections.length === 1, 'the closed connection to be forgotten');
      const c = await client({ url: l.url, username: 'u', password: 'pw' });
      expect(c.isOpen).toBe(true);
      expect(c.authentication).toEqual({ mechanism: 'PLAIN', username: 'u' });
      expect(calls).toHaveLength(3);
      await waitFor(() => emitted.length === 3, 'the new connection on connections$');
    },
  );

  it(
    'on the wire: the refused client is offered the mechanisms as usual, and its sasl-init is answered with code 4 (sys-temp) at once',
    { timeout: 20_000 },
    async () => {
      const { listener: l, calls } = await countingListener({ maxConnections: 1, failedLoginDelay: 3000 });
      listener = l;
      await client({ url: l.url, username: 'u', password: 'pw' });
      const raw = await RawSaslClient.connect(l.port);
      raws.push(raw);
      expect(await raw.mechanisms()).toEqual(['PLAIN']);
      const t0 = performance.now();
      raw.init('PLAIN', Buffer.from('\u0000u\u0000pw'));
      const outcome = await raw.next('saslOutcome');
      expect(outcome.performative!['code']).toBe(4);
      expect(outcome.at - t0).toBeLessThan(1000);
      await raw.closed; // and the server ends the socket
      expect(calls).toHaveLength(1);
    },
  );

  it(
    'sys-temp is retried: a client that retries its first connect gets in once one of the two disconnects',
    { timeout: 20_000 },
    async () => {
      const { listener: l, emitted } = await countingListener({ maxConnections: 2 });
      listener = l;
      const a = await client({ url: l.url, username: 'u', password: 'pw' });
      await client({ url: l.url, username: 'u', password: 'pw' });
      const failures: string[] = [];
      const third = connect({
        url: l.url,
        username: 'u',
        password: 'pw',
        reconnect: { retryFirstConnect: true, initialDelay: 20, maxDelay: 50, maxAttempts: 200 },
      });
      third.catch((e: unknown) => failures.push(String(e)));
      await sleep(300);
      expect(emitted).toHaveLength(2);
      expect(failures).toEqual([]);
      await a.close();
      const c = await third;
      conns.push(c);
      expect(c.isOpen).toBe(true);
      await waitFor(() => emitted.length === 3, 'the third connection on connections$');
    },
  );

  it(
    'without SASL, a third client gets an open then a close with amqp:resource-limit-exceeded naming maxConnections; connections$ does not see it; after one disconnects a new client gets in',
    { timeout: 20_000 },
    async () => {
      const {
        listener: l,
        calls,
        emitted,
      } = await countingListener({ maxConnections: 2, allowNoSasl: true }, () => true);
      listener = l;
      const a = await client({ url: l.url, sasl: false });
      await client({ url: l.url, sasl: false });
      await waitFor(() => emitted.length === 2, 'both connections on connections$');
      const err = await connect({ url: l.url, sasl: false, reconnect: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect(err).not.toBeInstanceOf(AuthenticationError);
      expect((err as ConnectionClosedError).condition).toBe('amqp:resource-limit-exceeded');
      expect((err as ConnectionClosedError).description).toBe(
        'the server has 2 connections, its limit (maxConnections); try again later',
      );
      await sleep(50);
      expect(emitted).toHaveLength(2);
      expect(calls).toHaveLength(0);
      expect(l.connections).toHaveLength(2);

      await a.close();
      await waitFor(() => l.connections.length === 1, 'the closed connection to be forgotten');
      const c = await client({ url: l.url, sasl: false });
      expect(c.isOpen).toBe(true);
      expect(c.authentication).toBeUndefined();
      await waitFor(() => emitted.length === 3, 'the new connection on connections$');
    },
  );

  it(
    'refused clients do not take places: many refusals in a row, then a free place is still given',
    { timeout: 20_000 },
    async () => {
      const { listener: l } = await countingListener({ maxConnections: 1, allowNoSasl: true }, () => true);
      listener = l;
      const a = await client({ url: l.url, sasl: false });
      for (let i = 0; i < 20; i++) {
        const err = await connect({ url: l.url, sasl: false, reconnect: false }).catch((e: unknown) => e);
        expect((err as ConnectionClosedError).condition).toBe('amqp:resource-limit-exceeded');
      }
      await a.close();
      await waitFor(() => l.connections.length === 0, 'the connection to be forgotten');
      expect((await client({ url: l.url, sasl: false })).isOpen).toBe(true);
    },
  );
  it(
    'close() does not wait for a refused socket that is still in its SASL exchange (it is closed with the others)',
    { timeout: 30_000 },
    async () => {
      const l = await listen({ port: 0, maxConnections: 1, handshakeTimeout: 6000 });
      listener = l;
      await client({ url: l.url });
      // Over the limit, and idle after its SASL header (until the handshakeTimeout, 6 s here).
      const raw = await RawSaslClient.connect(l.port);
      raws.push(raw);
      expect(await raw.mechanisms()).toEqual(['ANONYMOUS']);
      const t0 = performance.now();
      await l.close();
      listener = undefined;
      const took = performance.now() - t0;
      expect(took, `listener.close() took ${Math.round(took)} ms`).toBeLessThan(3000);
      await raw.closed;
    },
  );
});

describe('maxConnectionsPerAddress', () => {
  it(
    'a third client from 127.0.0.1 is refused naming maxConnectionsPerAddress; one from 127.0.0.2 gets in; after one from 127.0.0.1 goes, the next from there gets in',
    { timeout: 20_000 },
    async () => {
      const {
        listener: l,
        calls,
        emitted,
      } = await countingListener({ maxConnectionsPerAddress: 2, allowNoSasl: true }, () => true);
      listener = l;
      const a = await client({ url: l.url, sasl: false });
      await client({ url: l.url, sasl: false });
      const err = await connect({ url: l.url, sasl: false, reconnect: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect((err as ConnectionClosedError).condition).toBe('amqp:resource-limit-exceeded');
      expect((err as ConnectionClosedError).description).toBe(
        'the server has 2 connections from 127.0.0.1, its limit per address (maxConnectionsPerAddress); try again later',
      );
      expect(calls).toHaveLength(0);

      // Another address is counted on its own.
      const other = await fromLocalAddress('127.0.0.2', () => client({ url: l.url, sasl: false }));
      expect(other.isOpen).toBe(true);
      await waitFor(() => emitted.length === 3, 'the 127.0.0.2 connection on connections$');
      expect(emitted.map((c) => c.transport?.socket?.remoteAddress).sort()).toEqual([
        '127.0.0.1',
        '127.0.0.1',
        '127.0.0.2',
      ]);

      await a.close();
      await waitFor(() => l.connections.length === 2, 'the closed connection to be forgotten');
      // The refused socket may still be closing; a retrying client gets in within a few tries.
      const c = await client({
        url: l.url,
        sasl: false,
        reconnect: { retryFirstConnect: true, initialDelay: 20, maxDelay: 50, maxAttempts: 20 },
      });
      expect(c.isOpen).toBe(true);
      expect(emitted).toHaveLength(4);
    },
  );

  it(
    'with SASL the refusal is sys-temp, before authenticate; raw sockets that never log in count as connections from their address',
    { timeout: 20_000 },
    async () => {
      const { listener: l, calls, emitted } = await countingListener({ maxConnectionsPerAddress: 2 });
      listener = l;
      // Two raw sockets from 127.0.0.1 that only sent the SASL header.
      for (let i = 0; i < 2; i++) {
        const raw = await RawSaslClient.connect(l.port);
        raws.push(raw);
        expect(await raw.mechanisms()).toEqual(['PLAIN']);
      }
      const err = await connect({ url: l.url, username: 'u', password: 'pw', reconnect: false }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect(err).not.toBeInstanceOf(AuthenticationError);
      expect((err as ConnectionClosedError).condition).toBe('amqp:resource-limit-exceeded');
      expect(calls).toHaveLength(0);
      expect(emitted).toHaveLength(0);
      const other = await fromLocalAddress('127.0.0.2', () => client({ url: l.url, username: 'u', password: 'pw' }));
      expect(other.authentication).toEqual({ mechanism: 'PLAIN', username: 'u' });
      expect(calls).toHaveLength(1);
      // A raw socket from 127.0.0.1 goes: a Quark client from there gets in.
      await raws.shift()!.destroy();
      const c = await client({
        url: l.url,
        username: 'u',
        password: 'pw',
        reconnect: { retryFirstConnect: true, initialDelay: 20, maxDelay: 50, maxAttempts: 20 },
      });
      expect(c.isOpen).toBe(true);
    },
  );

  it(
    'listen() refuses bad values at once with an InvalidArgumentError naming the option',
    { timeout: 10_000 },
    async () => {
      for (const name of ['maxConnections', 'maxConnectionsPerAddress'] as const) {
        for (const value of [0, -1, 1.5, Number.NaN]) {
          const err = await listen({ port: 0, [name]: value }).then(
            async (x) => {
              await x.close();
              return undefined;
            },
            (e: unknown) => e,
          );
          expect(err, `${name}: ${value}`).toBeInstanceOf(InvalidArgumentError);
          expect((err as Error).message).toBe(`${name} must be a whole number of at least 1, got ${value}`);
        }
      }
    },
  );
});
