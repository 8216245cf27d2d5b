/**
 * Connections that survive: reconnect after a broker restart, failover between peers, in-doubt
 * sends, links and credit restored, a dead path found by the idle timeout, and an honest end when
 * reconnecting is off or given up. Faults come from real brokers stopped and started again and
 * from a fault-injecting TCP proxy, all on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  ConnectionClosedError,
  ConnectionLostError,
  InDoubtError,
  TimeoutError,
  connect,
  listen,
  startBroker,
  type Broker,
  type Connection,
  type Delivery,
  type Listener,
  type QuarkEvent,
} from '../../src/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { ScriptedPeer } from '../support/scripted-peer.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track<T extends Connection | Broker | Listener | FaultProxy>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The events of a connection, by type, as they happen. */
function record(connection: Connection): QuarkEvent[] {
  const events: QuarkEvent[] = [];
  connection.events$.subscribe((e) => events.push(e));
  return events;
}

function nextEvent<T extends QuarkEvent['type']>(
  connection: Connection,
  type: T,
  timeoutMs = 10_000,
): Promise<Extract<QuarkEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event within ${timeoutMs} ms`)), timeoutMs);
    const sub = connection.events$.subscribe((e) => {
      if (e.type !== type) return;
      clearTimeout(timer);
      sub.unsubscribe();
      resolve(e as Extract<QuarkEvent, { type: T }>);
    });
  });
}

/** Fast backoff for tests: the first retry at once, then 20 ms steps. */
const FAST = { initialDelay: 20, maxDelay: 100, jitter: 0 };

/** Active handles and timers of the kinds a connection makes, counted by kind. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo())
    if (/^(TCP|Timeout|Immediate)/.test(r)) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** Fails if any kind of handle or timer is more numerous now than in `before` (what the test itself left running). */
function expectNothingLeftBeyond(before: Map<string, number>): void {
  const now = resources();
  const extra = [...now]
    .filter(([kind, n]) => n > (before.get(kind) ?? 0))
    .map(([kind, n]) => `${kind} x${n - (before.get(kind) ?? 0)}`);
  expect(extra).toEqual([]);
}

describe('reconnect after the broker restarts', { timeout: 30_000 }, () => {
  it('a producer and a for-await consumer go on after the broker is stopped and started again on the same port, with no application code for it', async () => {
    let broker = await startBroker({ port: 0 });
    const port = broker.port;
    const conn = track(await connect({ url: `amqp://127.0.0.1:${port}`, reconnect: FAST }));
    const events = record(conn);
    const sender = await conn.createSender('orders');
    const receiver = await conn.createReceiver('orders', { credit: 5 });
    const received: unknown[] = [];
    const consuming = (async () => {
      for await (const d of receiver) {
        received.push(d.message.body);
        d.accept();
        if (received.length === 6) return;
      }
    })();
    for (let i = 0; i < 3; i++) await sender.send({ body: i });
    while (received.length < 3) await sleep(5);

    await broker.close(); // closes every connection with amqp:connection:forced
    const disconnected = events.find((e) => e.type === 'disconnected');
    expect(disconnected).toMatchObject({ type: 'disconnected', reconnecting: true });
    expect((disconnected as { error: ConnectionClosedError } | undefined)?.error.condition).toBe(
      'amqp:connection:forced',
    );
    expect(conn.reconnecting).toBe(true);
    expect(conn.isOpen).toBe(false);

    broker = await startBroker({ port });
    cleanups.push(() => broker.close());
    await nextEvent(conn, 'reconnected');
    expect(conn.isOpen).toBe(true);
    // The same sender and receiver objects, attached again: messages flow both ways.
    for (let i = 3; i < 6; i++) await sender.send({ body: i });
    await consuming;
    expect(received).toEqual([0, 1, 2, 3, 4, 5]);
    expect(receiver.credit).toBeGreaterThan(0); // its credit was granted again
    const types = events
      .map((e) => e.type)
      .filter((t) => ['disconnected', 'reconnecting', 'reconnected', 'closed'].includes(t));
    expect(types[0]).toBe('disconnected');
    expect(types.at(-1)).toBe('reconnected');
    expect(types.filter((t) => t === 'reconnecting').length).toBeGreaterThanOrEqual(1);
    expect(conn.error).toBeUndefined();
  });

  it('sends made during the outage wait and go out after the reconnect; one with a timeout shorter than the outage fails with TimeoutError and is never sent', async () => {
    let broker = await startBroker({ port: 0 });
    const port = broker.port;
    const conn = track(await connect({ url: `amqp://127.0.0.1:${port}`, reconnect: FAST }));
    const sender = await conn.createSender('q');
    await broker.close();
    expect(conn.reconnecting).toBe(true);
    expect(sender.credit).toBe(0); // not the dead link's credit
    const waiting = sender.send({ body: 'during the outage' });
    const timedOut = sender.send({ body: 'too late' }, { timeout: 50 }).catch((e: unknown) => e);
    expect(await timedOut).toBeInstanceOf(TimeoutError);
    broker = await startBroker({ port });
    cleanups.push(() => broker.close());
    expect((await waiting)?.kind).toBe('accepted');
    expect(broker.queue('q')?.depth).toBe(1); // only the message that waited
  });

  it('a sender and a receiver made while the connection is down attach once it is back', async () => {
    let broker = await startBroker({ port: 0 });
    const port = broker.port;
    const conn = track(await connect({ url: `amqp://127.0.0.1:${port}`, reconnect: FAST }));
    await conn.createSender('warmup'); // the default session exists
    await broker.close();
    const senderMade = conn.createSender('late');
    const receiverMade = conn.createReceiver('late');
    broker = await startBroker({ port });
    cleanups.push(() => broker.close());
    const [sender, receiver] = await Promise.all([senderMade, receiverMade]);
    await sender.send({ body: 'hello' });
    const d = await receiver.receive({ timeout: 5000 });
    expect(d.message.body).toBe('hello');
    d.accept();
  });

  it('a message received before the drop cannot be settled after it (ConnectionLostError); the broker delivers it again on the new link', async () => {
    const broker = track(await startBroker({ port: 0 }));
    // The broker keeps its queue over our reconnect only if it stays up: cut the path instead.
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: broker.port } }));
    const conn = track(await connect({ url: proxy.url, reconnect: FAST }));
    const sender = await conn.createSender('redeliver');
    const receiver = await conn.createReceiver('redeliver', { credit: 1 });
    await sender.send({ body: 'once' });
    const first = await receiver.receive({ timeout: 5000 });
    const reconnected = nextEvent(conn, 'reconnected');
    proxy.dropAll();
    await reconnected;
    expect(() => first.accept()).toThrow(ConnectionLostError);
    const again = await receiver.receive({ timeout: 5000 });
    expect(again.message.body).toBe('once');
    again.accept();
    await sleep(50);
    expect(broker.queue('redeliver')).toMatchObject({ depth: 0, inFlight: 0 });
  });
});

describe('in-doubt sends', { timeout: 30_000 }, () => {
  /** A listener whose receivers take messages and never settle them, behind a proxy the test can cut. */
  async function unsettlingPeer(
    settle: () => boolean,
  ): Promise<{ listener: Listener; proxy: FaultProxy; received: unknown[] }> {
    const listener = track(await listen({ port: 0 }));
    const received: unknown[] = [];
    listener.links$.subscribe((link) => {
      const r = link.acceptAsReceiver({ credit: 100 });
      r.deliveries$().subscribe({
        next: (d: Delivery) => {
          received.push(d.message.body);
          if (settle()) d.accept();
        },
        error: () => undefined,
      });
    });
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: listener.port } }));
    return { listener, proxy, received };
  }

  it("inDoubt 'reject' (the default): a message on the wire when the connection drops rejects with InDoubtError; one that never left is sent after the reconnect", async () => {
    let settling = false;
    const { proxy, received } = await unsettlingPeer(() => settling);
    const conn = track(await connect({ url: proxy.url, reconnect: FAST }));
    const sender = await conn.createSender('q');
    const inDoubt = sender.send({ body: 'in doubt' }).catch((e: unknown) => e);
    while (received.length < 1) await sleep(5);
    settling = true;
    const reconnected = nextEvent(conn, 'reconnected');
    proxy.dropAll();
    const err = await inDoubt;
    expect(err).toBeInstanceOf(InDoubtError);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as InDoubtError).inDoubt).toBe(true);
    expect((err as InDoubtError).message).toMatch(/may or may not have been delivered/);
    await reconnected;
    expect((await sender.send({ body: 'after' }))?.kind).toBe('accepted');
    expect(received).toEqual(['in doubt', 'after']);
  });

  it("inDoubt 'resend': the message on the wire is sent again after the reconnect and its send() resolves with the new outcome (a duplicate, as documented)", async () => {
    let settling = false;
    const { proxy, received } = await unsettlingPeer(() => settling);
    const conn = track(await connect({ url: proxy.url, reconnect: FAST }));
    const sender = await conn.createSender('q', { inDoubt: 'resend' });
    const sends = [sender.send({ body: 'a' }), sender.send({ body: 'b' })];
    while (received.length < 2) await sleep(5);
    settling = true;
    proxy.dropAll();
    const later = sender.send({ body: 'c' }); // queued behind the two being resent
    const outcomes = await Promise.all([...sends, later]);
    expect(outcomes.map((o) => o?.kind)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(received).toEqual(['a', 'b', 'a', 'b', 'c']); // in order; a and b twice
  });

  it('a message whose frames had not all gone out when the connection dropped is not in doubt: it is sent again whole, even with inDoubt reject', async () => {
    const broker = track(await startBroker({ port: 0 }));
    // The first peer opens a session window of 2 frames and never widens it: the message's
    // other frames wait in the engine when the path is cut; the reconnect goes to the broker.
    const peer = await ScriptedPeer.listen();
    cleanups.push(() => peer.close());
    peer.ignore('transfer');
    peer.expectSaslAnonymous();
    peer.expectOpen().respond();
    peer.expectBegin().respond({ incomingWindow: 2 });
    peer.expectAttach({ role: false }).respond();
    peer.remoteFlow({ linkCredit: 10 });
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: peer.port } }));
    const conn = track(await connect({ url: proxy.url, reconnect: FAST }));
    const sender = await conn.createSender('q');
    while (sender.credit === 0) await sleep(5);
    const body = new Uint8Array(2 * 1024 * 1024).fill(7);
    const sent = sender.send({ body });
    await sleep(100);
    proxy.setTarget({ host: '127.0.0.1', port: broker.port });
    proxy.dropAll();
    expect((await sent)?.kind).toBe('accepted');
    const receiver = await conn.createReceiver('q');
    const d = await receiver.receive({ timeout: 5000 });
    expect((d.message.body as Uint8Array).length).toBe(body.length);
    expect(broker.queue('q')).toMatchObject({ depth: 0, inFlight: 1 }); // exactly once
    d.accept();
  });
});

describe('failover', { timeout: 30_000 }, () => {
  it('with two embedded brokers in urls, the client moves to the second when the first stops, and its links go on there', async () => {
    const a = await startBroker({ port: 0 });
    const b = track(await startBroker({ port: 0 }));
    const urls = [`amqp://127.0.0.1:${a.port}`, `amqp://127.0.0.1:${b.port}`];
    const conn = track(await connect({ urls, reconnect: FAST }));
    expect(conn.url).toBe(urls[0]);
    const sender = await conn.createSender('orders', { inDoubt: 'resend' });
    const receiver = await conn.createReceiver('orders');
    await sender.send({ body: 'on a' });
    expect((await receiver.receive()).message.body).toBe('on a');
    const reconnected = nextEvent(conn, 'reconnected');
    await a.close();
    expect((await reconnected).url).toBe(urls[1]);
    expect(conn.url).toBe(urls[1]);
    await sender.send({ body: 'on b' });
    const d = await receiver.receive({ timeout: 5000 });
    expect(d.message.body).toBe('on b');
    d.accept();
    expect(b.queue('orders')).toBeDefined();
  });

  it('per-URL credentials: each URL logs in with its own user', async () => {
    const a = await startBroker({ port: 0, users: { alice: 'pa' }, allowInsecurePlain: true });
    const b = track(await startBroker({ port: 0, users: { bob: 'pb' }, allowInsecurePlain: true }));
    const conn = track(
      await connect({
        urls: [`amqp://alice:pa@127.0.0.1:${a.port}`, `amqp://bob:pb@127.0.0.1:${b.port}`],
        reconnect: FAST,
      }),
    );
    const reconnected = nextEvent(conn, 'reconnected');
    await a.close();
    expect((await reconnected).url).toBe(`amqp://bob@127.0.0.1:${b.port}`); // no password in events
    expect(conn.isOpen).toBe(true);
  });

  it('follows amqp:connection:redirect to the host and port the peer names', async () => {
    const target = track(await startBroker({ port: 0 }));
    const redirector = track(await listen({ port: 0 }));
    redirector.connections$.subscribe((c) => {
      void c.close({
        error: {
          condition: 'amqp:connection:redirect',
          description: 'go there',
          info: { 'network-host': '127.0.0.1', port: target.port },
        },
      });
    });
    const first = track(await startBroker({ port: 0 }));
    const conn = track(await connect({ urls: [`amqp://127.0.0.1:${first.port}`, redirector.url], reconnect: FAST }));
    const reconnected = nextEvent(conn, 'reconnected');
    await first.close(); // next in the list is the redirector, which sends us on
    expect((await reconnected).url).toBe(`amqp://127.0.0.1:${target.port}`);
  });
});

describe('a dead path, a cut mid-frame, and cancellation', { timeout: 30_000 }, () => {
  it('a black-holed path is found by the idle timeout (within twice it) and reconnected once the path heals', async () => {
    const broker = track(await startBroker({ port: 0 }));
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: broker.port } }));
    const idleTimeout = 400;
    const conn = track(await connect({ url: proxy.url, idleTimeout, reconnect: { ...FAST, attemptTimeout: 300 } }));
    const sender = await conn.createSender('q');
    await sender.send({ body: 1 });
    const lost = nextEvent(conn, 'disconnected');
    const t0 = performance.now();
    proxy.blackhole();
    const e = await lost;
    expect(performance.now() - t0).toBeLessThan(2 * idleTimeout);
    expect(e.error).toBeInstanceOf(ConnectionLostError);
    expect(e.error.message).toMatch(/idle timeout/);
    expect(e.reconnecting).toBe(true);
    proxy.heal();
    await nextEvent(conn, 'reconnected');
    expect((await sender.send({ body: 2 }))?.kind).toBe('accepted');
    expect(broker.queue('q')?.depth).toBe(2);
  });

  it('a connection cut in the middle of a frame is reconnected and its receiver goes on', async () => {
    const broker = track(await startBroker({ port: 0 }));
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: broker.port } }));
    const producer = track(await connect({ url: `amqp://127.0.0.1:${broker.port}`, reconnect: false }));
    const sender = await producer.createSender('cut');
    const conn = track(await connect({ url: proxy.url, reconnect: FAST }));
    const receiver = await conn.createReceiver('cut', { credit: 10 });
    await sender.send({ body: 'x'.repeat(2000) });
    (await receiver.receive()).accept();
    proxy.cutMidFrame();
    const reconnected = nextEvent(conn, 'reconnected');
    await sender.send({ body: 'y'.repeat(2000) }); // its frames are cut on the way to the receiver
    await reconnected;
    const d = await receiver.receive({ timeout: 5000 });
    expect(d.message.body).toBe('y'.repeat(2000)); // delivered again, whole
    d.accept();
  });

  it('close() during the backoff stops reconnecting at once, fails what waits, and leaves no socket or timer behind', async () => {
    const broker = track(await startBroker({ port: 0 }));
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: broker.port } }));
    const before = resources();
    const conn = await connect({ url: proxy.url, reconnect: { initialDelay: 5000, maxDelay: 5000, jitter: 0 } });
    const sender = await conn.createSender('q');
    const receiver = await conn.createReceiver('q');
    proxy.refuse(true);
    proxy.dropAll();
    // The first retry is immediate and refused; the second waits 5 s: close now.
    while (!conn.reconnecting) await sleep(5);
    await sleep(100);
    const waiting = sender.send({ body: 'never' }).catch((e: unknown) => e);
    const receiving = receiver.receive().catch((e: unknown) => e);
    const t0 = performance.now();
    await conn.close();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await waiting).toBeInstanceOf(ConnectionClosedError);
    expect(await receiving).toBeInstanceOf(ConnectionClosedError);
    expect(conn.reconnecting).toBe(false);
    await sleep(20);
    expectNothingLeftBeyond(before);
  });

  it('the connect signal aborts a first connect that keeps retrying, and leaves nothing behind', async () => {
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: 1 } }));
    proxy.refuse(true);
    await sleep(20);
    const before = resources();
    const controller = new AbortController();
    const connecting = connect({
      url: proxy.url,
      signal: controller.signal,
      reconnect: { ...FAST, retryFirstConnect: true },
    }).catch((e: unknown) => e);
    await sleep(150);
    controller.abort();
    const err = await connecting;
    expect((err as Error).name).toBe('AbortError');
    await sleep(20);
    expectNothingLeftBeyond(before);
  });
});

describe('the first connect, giving up, and errors that retrying cannot fix', { timeout: 30_000 }, () => {
  it('the first connect() fails fast by default; with retryFirstConnect it waits for a broker started later', async () => {
    const probe = await startBroker({ port: 0 });
    const port = probe.port;
    await probe.close();
    const t0 = performance.now();
    const err = await connect({ url: `amqp://127.0.0.1:${port}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toMatch(/connection refused/);
    expect(performance.now() - t0).toBeLessThan(1000);

    const connecting = connect({ url: `amqp://127.0.0.1:${port}`, reconnect: { ...FAST, retryFirstConnect: true } });
    await sleep(200);
    const broker = track(await startBroker({ port }));
    const conn = track(await connecting);
    expect(conn.isOpen).toBe(true);
    void broker;
  });

  it('after maxAttempts the connection ends: the error says so, for-await throws it, sends reject with it', async () => {
    const broker = await startBroker({ port: 0 });
    const conn = track(
      await connect({ url: `amqp://127.0.0.1:${broker.port}`, reconnect: { ...FAST, maxAttempts: 3 } }),
    );
    const events = record(conn);
    const receiver = await conn.createReceiver('q');
    const loop = (async () => {
      for await (const d of receiver) d.accept();
    })().catch((e: unknown) => e);
    await broker.close();
    const err = await loop;
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toMatch(/Gave up reconnecting after 3 attempts/);
    expect(conn.error).toBe(err);
    expect(events.filter((e) => e.type === 'reconnecting').length).toBe(3);
    const last = events.filter((e) => e.type === 'disconnected').at(-1);
    expect(last).toMatchObject({ reconnecting: false });
    expect(events.at(-1)?.type).toBe('closed');
  });

  it('a login refused on reconnect stops reconnecting with AuthenticationError', async () => {
    let broker = await startBroker({ port: 0, users: { u: 'old' }, allowInsecurePlain: true });
    const port = broker.port;
    const conn = track(await connect({ url: `amqp://u:old@127.0.0.1:${port}`, reconnect: FAST }));
    const receiver = await conn.createReceiver('q');
    const loop = (async () => {
      for await (const d of receiver) d.accept();
    })().catch((e: unknown) => e);
    await broker.close();
    broker = track(await startBroker({ port, users: { u: 'new' }, allowInsecurePlain: true }));
    const err = await loop;
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(conn.error).toBe(err);
    expect(conn.reconnecting).toBe(false);
  });
});

describe('an honest end with reconnect off', { timeout: 30_000 }, () => {
  it("the peer's clean close makes for-await and receive() throw ConnectionClosedError with byPeer; only our own close() ends a loop quietly", async () => {
    const listener = track(await listen({ port: 0 }));
    listener.links$.subscribe((l) => l.acceptAsSender());
    const conn = track(await connect({ url: listener.url, reconnect: false }));
    const receiver = await conn.createReceiver('q');
    const loop = (async () => {
      for await (const d of receiver) d.accept();
    })().catch((e: unknown) => e);
    const pending = receiver.receive().catch((e: unknown) => e);
    await listener.connections[0]!.close();
    const err = await loop;
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect((err as ConnectionClosedError).byPeer).toBe(true);
    expect(await pending).toBeInstanceOf(ConnectionClosedError);
    expect(conn.error).toBe(err);

    const own = track(await connect({ url: listener.url, reconnect: false }));
    const ownReceiver = await own.createReceiver('q');
    const ownLoop = (async () => {
      for await (const d of ownReceiver) d.accept();
      return 'ended';
    })();
    await own.close();
    expect(await ownLoop).toBe('ended');
  });

  it('a lost socket makes for-await throw ConnectionLostError and later sends reject with it', async () => {
    const broker = track(await startBroker({ port: 0 }));
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: broker.port } }));
    const conn = track(await connect({ url: proxy.url, reconnect: false }));
    const sender = await conn.createSender('q');
    const receiver = await conn.createReceiver('q');
    const loop = (async () => {
      for await (const d of receiver) d.accept();
    })().catch((e: unknown) => e);
    const lost = nextEvent(conn, 'disconnected');
    proxy.dropAll();
    expect((await lost).reconnecting).toBe(false);
    expect(await loop).toBeInstanceOf(ConnectionLostError);
    await expect(sender.send({ body: 1 })).rejects.toBeInstanceOf(ConnectionLostError);
  });
});

describe('options', () => {
  it('createReceiver(address, options) and createSender(address, options) take their options as a second argument', async () => {
    const broker = track(await startBroker({ port: 0 }));
    const conn = track(await connect({ url: broker.url, reconnect: false }));
    const receiver = await conn.createReceiver('orders', { credit: 7 });
    expect(receiver.credit).toBe(7);
    expect(receiver.address).toBe('orders');
    const sender = await conn.createSender('orders', { deliveryMode: 'at-most-once' });
    expect(await sender.send({ body: 1 })).toBeUndefined(); // pre-settled: no outcome
  });

  it('unknown or invalid options are refused with a clear error, never ignored', async () => {
    const broker = track(await startBroker({ port: 0 }));
    const conn = track(await connect({ url: broker.url, reconnect: false }));
    await expect(conn.createReceiver('q', { credits: 5 } as never)).rejects.toThrow(
      /receiver option "credits" is not supported/,
    );
    await expect(conn.createSender('q', { inDoubt: 'maybe' } as never)).rejects.toThrow(
      /inDoubt must be 'reject' or 'resend'/,
    );
    await expect(connect({ url: broker.url, reconnect: { retries: 3 } as never })).rejects.toThrow(
      /reconnect.retries is not a reconnect option/,
    );
    await expect(connect({ url: broker.url, reconnect: { jitter: 2 } })).rejects.toThrow(/jitter must be from 0 to 1/);
    await expect(connect({ url: broker.url, urls: [broker.url] })).rejects.toThrow(/either url .* or urls/);
    await expect(connect({ urls: [] })).rejects.toThrow(/non-empty array/);
  });
});

describe('what each view keeps across a reconnect', { timeout: 30_000 }, () => {
  async function droppable(): Promise<{ broker: Broker; proxy: FaultProxy; conn: Connection }> {
    const broker = track(await startBroker({ port: 0 }));
    const proxy = track(await startFaultProxy({ target: { host: '127.0.0.1', port: broker.port } }));
    const conn = track(await connect({ url: proxy.url, reconnect: FAST }));
    return { broker, proxy, conn };
  }

  it('deliveries$() goes on emitting after the reconnect, on the same subscription', async () => {
    const { broker, proxy, conn } = await droppable();
    const sender = await conn.createSender('rx');
    const receiver = await conn.createReceiver('rx');
    const bodies: unknown[] = [];
    const sub = receiver.deliveries$().subscribe((d) => {
      bodies.push(d.message.body);
      d.accept();
    });
    await sender.send({ body: 'before' });
    // Once the broker has our accept (else it rightly delivers 'before' again after the drop).
    while (bodies.length < 1 || broker.queue('rx')?.inFlight !== 0) await sleep(5);
    const reconnected = nextEvent(conn, 'reconnected');
    proxy.dropAll();
    await reconnected;
    await sender.send({ body: 'after' });
    while (bodies.length < 2) await sleep(5);
    expect(bodies).toEqual(['before', 'after']);
    sub.unsubscribe();
  });

  it('manual credit (credit: 0) left unused at the drop is granted again; credit added during the outage too', async () => {
    const { proxy, conn } = await droppable();
    const sender = await conn.createSender('manual');
    const receiver = await conn.createReceiver('manual', { credit: 0 });
    receiver.addCredit(2);
    const reconnected = nextEvent(conn, 'reconnected');
    proxy.refuse(true);
    proxy.dropAll();
    while (!conn.reconnecting) await sleep(5);
    receiver.addCredit(1); // during the outage
    proxy.refuse(false);
    await reconnected;
    await sleep(50);
    expect(receiver.credit).toBe(3);
    for (let i = 0; i < 4; i++) void sender.send({ body: i });
    const got = [await receiver.receive(), await receiver.receive(), await receiver.receive()];
    expect(got.map((d) => d.message.body)).toEqual([0, 1, 2]);
    got.forEach((d) => d.accept());
    expect(await receiver.receive({ timeout: 200 }).catch((e: unknown) => e)).toBeInstanceOf(TimeoutError); // no 4th credit
  });

  it('a session made with createSession() begins again with its links; receivers keep their names (so a durable subscription resumes)', async () => {
    const { proxy, conn } = await droppable();
    const session = await conn.createSession();
    const receiver = await session.createReceiver('named', { name: 'my-subscription' });
    const sender = await session.createSender('named');
    const reconnected = nextEvent(conn, 'reconnected');
    proxy.dropAll();
    await reconnected;
    expect(receiver.name).toBe('my-subscription');
    await sender.send({ body: 'x' });
    const d = await receiver.receive({ timeout: 5000 });
    expect(d.message.body).toBe('x');
    d.accept();
    expect(session.isOpen).toBe(true);
  });

  it('messages that arrived and were not taken when the connection dropped are dropped from the buffer (the broker delivers them again), not handed over unsettleable', async () => {
    const { broker, proxy, conn } = await droppable();
    const producer = track(await connect({ url: broker.url, reconnect: false }));
    const sender = await producer.createSender('buffered');
    const receiver = await conn.createReceiver('buffered', { credit: 10 });
    for (let i = 0; i < 3; i++) await sender.send({ body: i });
    while (receiver.buffered < 3) await sleep(5);
    const reconnected = nextEvent(conn, 'reconnected');
    proxy.dropAll();
    await reconnected;
    const got: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const d = await receiver.receive({ timeout: 5000 });
      d.accept(); // settleable: it came on the new link
      got.push(d.message.body);
    }
    expect(got).toEqual([0, 1, 2]);
  });
});
