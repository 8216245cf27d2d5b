/**
 * Consumers that start, scale and stop cleanly (issue #10): `receiver.deliveries({ signal })`,
 * `receive({ signal: AbortSignal.timeout(n) })`, `receiver.subscribe(handler, options)`, the
 * receiver option `maxUnsettled` (for-await, `deliveries$()` and `subscribe` alike) and the
 * `forwardTo()` RxJS operator for at-least-once forwarding.
 *
 * Peers: Quark's embedded broker (queues, redelivery, counts of what it holds) and `listen()`
 * (a peer whose outcomes the sender sees directly), on loopback ports the OS picks.
 */
import { concatMap, lastValueFrom, map, take, tap, timer, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  AbortError,
  AmqpError,
  DeliveryModifiedError,
  DeliveryRejectedError,
  DeliveryReleasedError,
  TimeoutError,
  connect,
  forwardTo,
  listen,
  startBroker,
  type AmqpValue,
  type Broker,
  type ConnectOptions,
  type Connection,
  type Delivery,
  type Forwarded,
  type HandlerErrorAction,
  type Listener,
  type Receiver,
  type ReceiverSubscription,
  type Sender,
} from '../../src/index.js';

const TIMEOUT = 30_000;

let broker: Broker | undefined;
const listeners: Listener[] = [];
const connections: Connection[] = [];
const subscriptions: ReceiverSubscription<unknown>[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const f of cleanups.splice(0)) f();
  for (const s of subscriptions.splice(0)) await s.stop().catch(() => undefined);
  for (const c of connections.splice(0)) await c.close().catch(() => undefined);
  for (const l of listeners.splice(0)) await l.close().catch(() => undefined);
  await broker?.close();
  broker = undefined;
});

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `cond` every few ms; fails naming `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await wait(5);
  }
}

/** Resolves with `p`, or rejects naming `what` if it takes longer than `ms`. */
async function within<T>(p: Promise<T> | PromiseLike<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve(p),
      new Promise<never>(
        (_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(t);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Samples `f` every millisecond until stopped; returns the largest value seen. */
function sampleMax(f: () => number): { stop: () => number; max: () => number } {
  let max = f();
  const t = setInterval(() => (max = Math.max(max, f())), 1);
  cleanups.push(() => clearInterval(t));
  return {
    stop: () => {
      clearInterval(t);
      max = Math.max(max, f());
      return max;
    },
    max: () => max,
  };
}

async function startTheBroker(): Promise<Broker> {
  broker = await startBroker({ port: 0 });
  return broker;
}

async function client(options: Omit<ConnectOptions, 'url'> = {}): Promise<Connection> {
  const c = await connect({ url: broker!.url, ...options });
  connections.push(c);
  return c;
}

/** Puts messages with bodies 0..n-1 (or `bodies`) on a broker queue; resolves once the broker has them all. */
async function fill(address: string, n: number): Promise<void> {
  const c = await client();
  const sender = await c.createSender(address);
  await Promise.all(Array.from({ length: n }, (_, i) => sender.send({ body: i })));
  await sender.close();
}

/**
 * Makes the receiver fetch: takes (and accepts) one message with receive(), which starts the credit
 * window (a receiver may wait for the application to take a message before it grants credit),
 * then waits until `n` more messages are buffered.
 */
async function prefetch(r: Receiver, n: number): Promise<void> {
  (await r.receive({ timeout: 5000 })).accept();
  await until(() => r.buffered === n, `${n} messages prefetched`);
}

function track<B>(s: ReceiverSubscription<B>): ReceiverSubscription<B> {
  subscriptions.push(s as ReceiverSubscription<unknown>);
  return s;
}

const depth = (address: string) => broker!.queue(address) ?? { depth: 0, inFlight: 0, consumers: 0 };

/**
 * A `listen()` peer whose first incoming link becomes a receiver handed to the test, and a client
 * sender on it: what the receiver's consumer does, the sender's `send()` reports.
 */
async function peerPair(address = 'p2p'): Promise<{ sender: Sender; receiver: Receiver }> {
  const listener = await listen();
  listeners.push(listener);
  const receiver = new Promise<Receiver>((resolve) => {
    const sub = listener.links$.subscribe((link) => {
      sub.unsubscribe();
      resolve(link.acceptAsReceiver({ credit: 10 }));
    });
  });
  const c = await connect(listener.url);
  connections.push(c);
  const sender = await c.createSender(address);
  return { sender, receiver: await receiver };
}

// ---- deliveries({ signal }) ----

describe('for await over receiver.deliveries({ signal })', () => {
  it('an abort while the loop waits for a message ends it cleanly (no throw)', { timeout: TIMEOUT }, async () => {
    await startTheBroker();
    const r = await (await client()).createReceiver('d-wait');
    const ac = new AbortController();
    const seen: Delivery[] = [];
    const loop = (async () => {
      for await (const d of r.deliveries({ signal: ac.signal })) seen.push(d);
      return 'ended';
    })();
    await wait(100);
    ac.abort();
    await expect(within(loop, 2000, 'the loop')).resolves.toBe('ended');
    expect(seen).toHaveLength(0);
    expect(r.isOpen).toBe(true);
  });

  it(
    'an abort between messages ends the loop; prefetched messages stay buffered and a later receive() gets them in order',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('d-between', 6);
      const r = await (await client()).createReceiver({ source: 'd-between', credit: 10 });
      const ac = new AbortController();
      const taken: Delivery[] = [];
      for await (const d of r.deliveries({ signal: ac.signal })) {
        taken.push(d);
        if (taken.length === 1) await until(() => r.buffered === 5, 'the other five messages prefetched');
        if (taken.length === 2) ac.abort();
      }
      expect(taken.map((d) => d.message.body)).toEqual([0, 1]);
      expect(r.buffered).toBe(4);
      const next = await r.receive({ timeout: 2000 });
      expect(next.message.body).toBe(2);
      expect(r.buffered).toBe(3);
      // Another loop (no signal) takes up where the first left off.
      const rest: AmqpValue[] = [];
      for await (const d of r) {
        rest.push(d.message.body!);
        d.accept();
        if (rest.length === 3) break;
      }
      expect(rest).toEqual([3, 4, 5]);
      for (const d of [...taken, next]) d.accept();
      await until(() => depth('d-between').depth === 0 && depth('d-between').inFlight === 0, 'the queue to empty');
    },
  );

  it(
    'an abort while the loop body is busy ends the loop after that body, taking nothing more',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('d-busy', 5);
      const r = await (await client()).createReceiver({ source: 'd-busy', credit: 10 });
      const ac = new AbortController();
      const taken: AmqpValue[] = [];
      for await (const d of r.deliveries({ signal: ac.signal })) {
        taken.push(d.message.body!);
        d.accept();
        await until(() => r.buffered === 4, 'the other four messages prefetched');
        setTimeout(() => ac.abort(), 30);
        await wait(200); // the abort comes during the first body
      }
      expect(taken).toEqual([0]);
      expect(r.buffered).toBe(4);
    },
  );

  it('an already-aborted signal yields nothing and takes nothing', { timeout: TIMEOUT }, async () => {
    await startTheBroker();
    await fill('d-pre', 3);
    const r = await (await client()).createReceiver({ source: 'd-pre', credit: 10 });
    await prefetch(r, 2);
    let n = 0;
    for await (const _ of r.deliveries({ signal: AbortSignal.abort() })) n++;
    expect(n).toBe(0);
    expect(r.buffered).toBe(2);
    expect(() => r.deliveries({ signal: {} as AbortSignal })).toThrow(InvalidArgumentError);
  });
});

// ---- receive({ signal: AbortSignal.timeout() }) ----

describe('receive() with AbortSignal.timeout()', () => {
  it(
    "rejects with Quark's TimeoutError, takes nothing, and a message arriving later stays for the next call",
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      const r = await (await client()).createReceiver('t-timeout');
      const t0 = Date.now();
      const error = await r.receive({ signal: AbortSignal.timeout(50) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = Date.now() - t0;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toBeInstanceOf(AmqpError);
      expect((error as TimeoutError).condition).toBe('quark:timeout');
      expect(elapsed).toBeGreaterThanOrEqual(40);
      expect(elapsed).toBeLessThan(2000);

      await fill('t-timeout', 1);
      await until(() => r.buffered === 1, 'the message to be buffered (not taken by the cancelled call)');
      const d = await r.receive({ timeout: 2000 });
      expect(d.message.body).toBe(0);
      d.accept();
    },
  );

  it(
    'a signal whose timeout has already passed rejects at once with TimeoutError, leaving a buffered message',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('t-passed', 2);
      const r = await (await client()).createReceiver('t-passed');
      await prefetch(r, 1);
      const signal = AbortSignal.timeout(1);
      await wait(30);
      const error = await r.receive({ signal }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as TimeoutError).condition).toBe('quark:timeout');
      expect(r.buffered).toBe(1);
      // A plain abort is an AbortError, not a timeout.
      const aborted = await r.receive({ signal: AbortSignal.abort() }).catch((e: unknown) => e);
      expect(aborted).toBeInstanceOf(AbortError);
      expect(aborted).not.toBeInstanceOf(TimeoutError);
      expect(r.buffered).toBe(1);
    },
  );
});

// ---- subscribe ----

describe('receiver.subscribe(handler, options)', () => {
  it(
    "a handler that resolves accepts its message: the broker's queue empties, in order with concurrency 1",
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('s-accept', 10);
      const r = await (await client()).createReceiver('s-accept');
      const bodies: AmqpValue[] = [];
      const sub = track(
        r.subscribe(async (d) => {
          await wait(2);
          bodies.push(d.message.body!);
        }),
      );
      await until(() => bodies.length === 10, 'ten messages handled');
      expect(bodies).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await until(() => depth('s-accept').depth === 0 && depth('s-accept').inFlight === 0, 'the queue to empty');
      await within(sub.stop(), 2000, 'stop()');
    },
  );

  it(
    "the sender's send() resolves accepted once the handler has resolved (peer to peer)",
    { timeout: TIMEOUT },
    async () => {
      const { sender, receiver } = await peerPair();
      let handlerDone = 0;
      track(
        receiver.subscribe(async () => {
          await wait(100);
          handlerDone = Date.now();
        }),
      );
      const result = await within(sender.send({ body: 'x' }), 5000, 'send');
      const sendDone = Date.now();
      expect(result?.kind).toBe('accepted');
      expect(handlerDone).toBeGreaterThan(0);
      expect(sendDone).toBeGreaterThanOrEqual(handlerDone);
    },
  );

  it(
    'a handler that throws gives its message back modified with delivery-failed by default: the broker redelivers it with a higher delivery count',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('s-modify', 1);
      const r = await (await client()).createReceiver('s-modify');
      const counts: (number | undefined)[] = [];
      track(
        r.subscribe((d) => {
          counts.push(d.message.deliveryCount);
          if (counts.length < 3) throw new Error(`attempt ${counts.length} failed`);
        }),
      );
      await until(() => counts.length === 3, 'three attempts');
      expect(counts.map((c) => c ?? 0)).toEqual([0, 1, 2]);
      await until(() => depth('s-modify').depth === 0 && depth('s-modify').inFlight === 0, 'the queue to empty');
    },
  );

  it(
    "onError 'release' gives the message back unchanged: redelivered without a higher delivery count",
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('s-release', 1);
      const r = await (await client()).createReceiver('s-release');
      const counts: (number | undefined)[] = [];
      track(
        r.subscribe(
          async (d) => {
            counts.push(d.message.deliveryCount);
            if (counts.length === 1) throw new Error('not now');
          },
          { onError: 'release' },
        ),
      );
      await until(() => counts.length === 2, 'two attempts');
      expect(counts.map((c) => c ?? 0)).toEqual([0, 0]);
    },
  );

  const outcomes: { name: string; onError: HandlerErrorAction<AmqpValue> | undefined; check: (e: unknown) => void }[] =
    [
      {
        name: 'default (modify, delivery-failed)',
        onError: undefined,
        check: (e) => {
          expect(e).toBeInstanceOf(DeliveryModifiedError);
          expect((e as DeliveryModifiedError).outcome).toMatchObject({ kind: 'modified', deliveryFailed: true });
        },
      },
      { name: "'release'", onError: 'release', check: (e) => expect(e).toBeInstanceOf(DeliveryReleasedError) },
      {
        name: "'reject' (the error's message is the description)",
        onError: 'reject',
        check: (e) => {
          expect(e).toBeInstanceOf(DeliveryRejectedError);
          expect((e as DeliveryRejectedError).description).toBe('order 7 is invalid');
          expect((e as DeliveryRejectedError).outcome).toMatchObject({
            kind: 'rejected',
            error: { description: 'order 7 is invalid' },
          });
        },
      },
      {
        name: 'a function that settles the delivery itself',
        onError: (error, d) =>
          d.reject({ condition: 'app:invalid-order', description: `custom: ${(error as Error).message}` }),
        check: (e) => {
          expect(e).toBeInstanceOf(DeliveryRejectedError);
          expect((e as DeliveryRejectedError).condition).toBe('app:invalid-order');
          expect((e as DeliveryRejectedError).description).toBe('custom: order 7 is invalid');
        },
      },
      {
        name: 'a function that leaves the delivery unsettled (then modified, as by default)',
        onError: () => undefined,
        check: (e) => {
          expect(e).toBeInstanceOf(DeliveryModifiedError);
          expect((e as DeliveryModifiedError).outcome).toMatchObject({ kind: 'modified', deliveryFailed: true });
        },
      },
      {
        name: 'a function that throws (then modified, as by default)',
        onError: () => {
          throw new Error('onError itself failed');
        },
        check: (e) => expect(e).toBeInstanceOf(DeliveryModifiedError),
      },
    ];

  it.each(outcomes.map((o) => [o.name, o] as const))(
    'a handler that throws, with onError %s: the sender sees that outcome (peer to peer)',
    { timeout: TIMEOUT },
    async (_name, o) => {
      const { sender, receiver } = await peerPair();
      let calls = 0;
      track(
        receiver.subscribe(
          async () => {
            calls++;
            throw new Error('order 7 is invalid');
          },
          o.onError === undefined ? {} : { onError: o.onError },
        ),
      );
      const error = await within(sender.send({ body: 7 }), 5000, 'send').then(
        () => undefined,
        (e: unknown) => e,
      );
      o.check(error);
      expect(calls).toBe(1);
    },
  );

  it(
    'runs at most `concurrency` handlers at once, and that many when messages are waiting',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('s-conc', 40);
      const r = await (await client()).createReceiver('s-conc');
      let running = 0;
      let most = 0;
      let done = 0;
      track(
        r.subscribe(
          async () => {
            running++;
            most = Math.max(most, running);
            await wait(20);
            running--;
            done++;
          },
          { concurrency: 4 },
        ),
      );
      await until(() => done === 40, 'forty messages handled');
      expect(most).toBe(4);
      await until(() => depth('s-conc').depth === 0 && depth('s-conc').inFlight === 0, 'the queue to empty');
    },
  );

  for (const prefetch of [0, 2]) {
    it(
      `with prefetch ${prefetch}, credit + buffered + unsettled never exceed concurrency + prefetch (messages arriving while subscribed)`,
      { timeout: TIMEOUT },
      async () => {
        await startTheBroker();
        const r = await (await client()).createReceiver('s-credit');
        let done = 0;
        track(
          r.subscribe(
            async () => {
              await wait(3);
              done++;
            },
            { concurrency: 3, prefetch },
          ),
        );
        const held = sampleMax(() => r.credit + r.buffered + r.unsettled);
        const brokerInFlight = sampleMax(() => depth('s-credit').inFlight);
        await fill('s-credit', 60);
        await until(() => done === 60, 'sixty messages handled');
        expect(held.stop()).toBeLessThanOrEqual(3 + prefetch);
        expect(brokerInFlight.stop()).toBeLessThanOrEqual(3 + prefetch);
      },
    );
  }

  // The natural use: `(await connection.createReceiver('orders')).subscribe(handler, { concurrency: 3 })`
  // on a queue that already holds messages.
  async function subscribeToBacklog(
    address: string,
  ): Promise<{ held: number; brokerInFlight: number; handled: AmqpValue[] }> {
    await startTheBroker();
    await fill(address, 60);
    const r = await (await client()).createReceiver(address);
    const handled: AmqpValue[] = [];
    track(
      r.subscribe(
        async (d) => {
          await wait(3);
          handled.push(d.message.body!);
        },
        { concurrency: 3 },
      ),
    );
    const held = sampleMax(() => r.credit + r.buffered + r.unsettled);
    const brokerInFlight = sampleMax(() => depth(address).inFlight);
    await until(() => handled.length === 60, 'sixty messages handled');
    await until(() => depth(address).depth === 0 && depth(address).inFlight === 0, 'the queue to empty');
    return { held: held.stop(), brokerInFlight: brokerInFlight.stop(), handled };
  }

  it(
    'with prefetch 0, a receiver subscribed at once to a queue with a backlog holds no more than concurrency (credit + buffered + unsettled)',
    { timeout: TIMEOUT },
    async () => {
      const { held, handled } = await subscribeToBacklog('s-backlog');
      expect(
        [...handled].sort((a, b) => (a as number) - (b as number)),
        'every message handled exactly once',
      ).toEqual(Array.from({ length: 60 }, (_, i) => i));
      expect(held, 'receiver.credit + buffered + unsettled').toBeLessThanOrEqual(3);
    },
  );

  it(
    'a receiver subscribed at once to a backlog with its default credit window gives back what it had prefetched beyond concurrency, and every message is handled exactly once',
    { timeout: TIMEOUT },
    async () => {
      // The default window (100) was granted at attach: the broker may have sent the backlog before
      // subscribe() set its bound; the surplus is released (not lost, not handled twice). For a
      // bound from the first message, the receiver is made with credit: 0 (next test).
      const { handled } = await subscribeToBacklog('s-backlog-broker');
      expect(handled).toHaveLength(60);
      expect(new Set(handled).size).toBe(60);
    },
  );

  it(
    'on a receiver with manual credit (credit: 0), subscribe either refuses or runs the handlers; it never waits forever',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('s-manual', 3);
      const r = await (await client()).createReceiver({ source: 's-manual', credit: 0 });
      let handled = 0;
      let sub: ReceiverSubscription<AmqpValue> | undefined;
      try {
        sub = track(
          r.subscribe(
            () => {
              handled++;
            },
            { concurrency: 2 },
          ),
        );
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError);
        return;
      }
      await until(() => handled === 3, 'three messages handled by a subscription on a credit: 0 receiver', 3000);
      await sub.stop();
    },
  );

  it('stop() stops taking messages, waits for the handlers running, then resolves', { timeout: TIMEOUT }, async () => {
    await startTheBroker();
    await fill('s-stop', 3);
    const r = await (await client()).createReceiver('s-stop');
    const gate = deferred();
    let started = 0;
    let finished = 0;
    const sub = track(
      r.subscribe(async () => {
        started++;
        await gate.promise;
        finished++;
      }),
    );
    await until(() => started === 1, 'the first handler to start');
    let stopped = false;
    const stopping = sub.stop().then(() => (stopped = true));
    let ended = false;
    void Promise.resolve(sub).then(() => (ended = true));
    await wait(150);
    expect(stopped, 'stop() resolved while a handler was still running').toBe(false);
    expect(ended).toBe(false);
    gate.resolve();
    await within(stopping, 2000, 'stop()');
    await within(sub, 2000, 'the subscription');
    expect(finished).toBe(1);
    await wait(200);
    expect(started, 'no handler starts after stop()').toBe(1);
    // The message handled was accepted; the other two are still the broker's (queued or delivered, unsettled).
    const q = depth('s-stop');
    expect(q.depth + q.inFlight).toBe(2);
  });

  it(
    'an aborted signal ends the subscription (and an already-aborted one never runs the handler)',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      const r = await (await client()).createReceiver('s-signal');
      const ac = new AbortController();
      let handled = 0;
      const sub = track(
        r.subscribe(
          () => {
            handled++;
          },
          { signal: ac.signal },
        ),
      );
      await fill('s-signal', 2);
      await until(() => handled === 2, 'two messages handled');
      ac.abort();
      await expect(within(sub, 2000, 'the subscription')).resolves.toBeUndefined();
      expect(sub.error).toBeUndefined();

      await fill('s-signal-2', 3);
      const r2 = await (await client()).createReceiver('s-signal-2');
      await prefetch(r2, 2);
      let handled2 = 0;
      const sub2 = track(
        r2.subscribe(
          () => {
            handled2++;
          },
          { signal: AbortSignal.abort() },
        ),
      );
      await within(sub2, 2000, 'a subscription with an aborted signal');
      await wait(50);
      expect(handled2).toBe(0);
    },
  );

  it('closing the receiver ends the subscription without error', { timeout: TIMEOUT }, async () => {
    await startTheBroker();
    const r = await (await client()).createReceiver('s-close');
    const sub = track(r.subscribe(() => undefined, { concurrency: 2 }));
    await wait(50);
    await r.close();
    await expect(within(sub, 2000, 'the subscription')).resolves.toBeUndefined();
  });

  it('awaiting it rejects when the peer closes the connection (broker.close())', { timeout: TIMEOUT }, async () => {
    await startTheBroker();
    const r = await (await client({ reconnect: false })).createReceiver('s-peer-close');
    const sub = track(r.subscribe(() => undefined, { concurrency: 2 }));
    await wait(50);
    await broker!.close();
    const error = await within(sub, 5000, 'the subscription').then(
      () => 'resolved',
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AmqpError);
    expect(sub.error).toBe(error);
  });

  it('a failing subscription nobody awaits causes no unhandled rejection', { timeout: TIMEOUT }, async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.off('unhandledRejection', onUnhandled));
    await startTheBroker();
    const c = await client({ reconnect: false });
    const r1 = await c.createReceiver('s-unawaited-1');
    const r2 = await c.createReceiver('s-unawaited-2');
    const sub1 = r1.subscribe(() => undefined, { concurrency: 3 }); // never awaited, never stopped
    const sub2 = r2.subscribe(() => undefined); // never awaited, never stopped
    await wait(50);
    await broker!.close();
    await until(() => sub1.error !== undefined && sub2.error !== undefined, 'both subscriptions to fail');
    // Unhandled rejections are reported after the microtask queue drains: give them every chance.
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      await wait(20);
    }
    expect(unhandled).toEqual([]);
  });

  it(
    'with reconnect (the default), a subscription goes on after the broker comes back',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      const port = broker!.port;
      const r = await (await client({ reconnect: { initialDelay: 20, maxDelay: 200 } })).createReceiver('s-reconnect');
      const bodies: AmqpValue[] = [];
      const sub = track(
        r.subscribe((d) => {
          bodies.push(d.message.body!);
        }),
      );
      await fill('s-reconnect', 1);
      await until(() => bodies.length === 1, 'the first message');
      await broker!.close();
      broker = await startBroker({ port });
      await until(() => r.isOpen, 'the receiver to attach again');
      await fill('s-reconnect', 1);
      await until(() => bodies.length === 2, 'a message sent after the reconnect');
      expect(sub.error).toBeUndefined();
      await within(sub.stop(), 2000, 'stop()');
    },
  );

  it(
    'refuses an unknown option, a bad concurrency or prefetch, a bad onError or signal, and a non-function handler, with InvalidArgumentError',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      const r = await (await client()).createReceiver('s-bad');
      await wait(20);
      const creditBefore = r.credit;
      const h = () => undefined;
      const bad: [string, () => unknown][] = [
        ['unknown option', () => r.subscribe(h, { concurrancy: 2 } as never)],
        ['concurrency 0', () => r.subscribe(h, { concurrency: 0 })],
        ['concurrency -1', () => r.subscribe(h, { concurrency: -1 })],
        ['concurrency 1.5', () => r.subscribe(h, { concurrency: 1.5 })],
        ['concurrency NaN', () => r.subscribe(h, { concurrency: NaN })],
        ['concurrency Infinity', () => r.subscribe(h, { concurrency: Infinity })],
        ['concurrency "2"', () => r.subscribe(h, { concurrency: '2' as never })],
        ['prefetch -1', () => r.subscribe(h, { prefetch: -1 })],
        ['prefetch 0.5', () => r.subscribe(h, { prefetch: 0.5 })],
        ['onError "drop"', () => r.subscribe(h, { onError: 'drop' as never })],
        ['signal {}', () => r.subscribe(h, { signal: {} as AbortSignal })],
        ['handler "x"', () => r.subscribe('x' as never)],
      ];
      for (const [what, f] of bad) expect(f, what).toThrow(InvalidArgumentError);
      // Nothing was started by the refused calls: the credit is as it was.
      await wait(20);
      expect(r.credit).toBe(creditBefore);
      await fill('s-bad', 1);
      let handled = 0;
      track(
        r.subscribe(() => {
          handled++;
        }),
      );
      await until(() => handled === 1, 'a valid subscription to run');
    },
  );
});

// ---- maxUnsettled ----

describe('receiver option maxUnsettled', () => {
  it(
    'a for-await loop that does not settle gets no more than maxUnsettled; settling one lets exactly one more in',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('m-loop', 20);
      const r = await (await client()).createReceiver({ source: 'm-loop', credit: 100, maxUnsettled: 5 });
      const ac = new AbortController();
      const taken: Delivery[] = [];
      const loop = (async () => {
        for await (const d of r.deliveries({ signal: ac.signal })) taken.push(d);
      })();
      await until(() => taken.length === 5, 'five deliveries');
      await wait(300);
      expect(taken.length).toBe(5);
      expect(r.buffered + taken.length).toBeLessThanOrEqual(5);
      expect(r.unsettled).toBe(5);
      expect(depth('m-loop').inFlight).toBeLessThanOrEqual(5);

      taken[0]!.accept();
      await until(() => taken.length === 6, 'one more delivery after one was settled');
      await wait(300);
      expect(taken.length).toBe(6);
      expect(r.buffered + r.unsettled).toBeLessThanOrEqual(5);

      taken[1]!.release();
      taken[2]!.reject({ condition: 'app:bad' });
      taken[3]!.modify({ deliveryFailed: true });
      await until(() => taken.length === 9, 'three more after three were settled (release, reject, modify)');
      await wait(300);
      expect(taken.length).toBe(9);

      ac.abort();
      await within(loop, 2000, 'the loop');
      for (const d of taken) if (!d.settled) d.accept();
    },
  );

  it(
    'deliveries$() into a slow concatMap holds at most maxUnsettled emitted and unsettled, and processes all 200 messages',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('m-rx', 200);
      const r = await (await client()).createReceiver({ source: 'm-rx', maxUnsettled: 8 });
      let outstanding = 0;
      let most = 0;
      const brokerInFlight = sampleMax(() => depth('m-rx').inFlight);
      const bodies = await within(
        lastValueFrom(
          r.deliveries$().pipe(
            tap(() => {
              outstanding++;
              most = Math.max(most, outstanding);
            }),
            concatMap((d) =>
              timer(1).pipe(
                map(() => {
                  d.accept();
                  outstanding--;
                  return d.message.body;
                }),
              ),
            ),
            take(200),
            toArray(),
          ),
        ),
        20_000,
        'the pipeline',
      );
      expect(bodies).toEqual(Array.from({ length: 200 }, (_, i) => i));
      expect(most, 'deliveries emitted and not yet settled').toBeLessThanOrEqual(8);
      expect(most).toBeGreaterThan(1); // the bound is what limits it, not a one-at-a-time pipeline
      expect(brokerInFlight.stop()).toBeLessThanOrEqual(8);
      await until(() => depth('m-rx').depth === 0 && depth('m-rx').inFlight === 0, 'the queue to empty');
    },
  );

  it(
    'bounds subscribe too: concurrency 10 under maxUnsettled 3 runs at most 3 handlers',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('m-sub', 30);
      const r = await (await client()).createReceiver({ source: 'm-sub', maxUnsettled: 3 });
      let running = 0;
      let most = 0;
      let done = 0;
      track(
        r.subscribe(
          async () => {
            running++;
            most = Math.max(most, running);
            await wait(10);
            running--;
            done++;
          },
          { concurrency: 10 },
        ),
      );
      await until(() => done === 30, 'thirty messages handled');
      expect(most).toBe(3);
    },
  );

  it(
    'refuses 0, 1.5, -1, NaN and "5", and maxUnsettled with credit 0, with InvalidArgumentError',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      const c = await client();
      for (const bad of [0, 1.5, -1, NaN, '5']) {
        await expect(
          c.createReceiver({ source: 'm-bad', maxUnsettled: bad as number }),
          `maxUnsettled ${String(bad)}`,
        ).rejects.toThrow(InvalidArgumentError);
      }
      await expect(c.createReceiver({ source: 'm-bad', credit: 0, maxUnsettled: 5 })).rejects.toThrow(
        InvalidArgumentError,
      );
      await wait(50);
      expect(depth('m-bad').consumers).toBe(0);
    },
  );
});

// ---- forwardTo ----

describe('forwardTo(sender, toMessage): at-least-once forwarding in RxJS', () => {
  it(
    'forwards 100 messages, accepting each input only once the target accepted its copy',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('f-src', 100);
      const c = await client();
      const r = await c.createReceiver({ source: 'f-src', maxUnsettled: 20 });
      const sender = await c.createSender('f-dst');
      const out = await within(
        lastValueFrom(
          r.deliveries$().pipe(
            take(100),
            forwardTo(sender, (d: Delivery) => ({ body: d.message.body })),
            tap(({ item, error }: Forwarded<Delivery>) => {
              if (error) item.release();
              else item.accept();
            }),
            toArray(),
          ),
        ),
        20_000,
        'the pipeline',
      );
      expect(out).toHaveLength(100);
      expect(out.filter((f) => f.error !== undefined)).toEqual([]);
      expect(out.every((f) => f.result?.kind === 'accepted')).toBe(true);
      expect(out.map((f) => f.item.message.body).sort((a, b) => (a as number) - (b as number))).toEqual(
        Array.from({ length: 100 }, (_, i) => i),
      );
      await until(() => depth('f-src').depth === 0 && depth('f-src').inFlight === 0, 'the source queue to empty');
      expect(depth('f-dst').depth).toBe(100);
      const check = await (await client()).createReceiver('f-dst');
      const got: AmqpValue[] = [];
      for (let i = 0; i < 100; i++) {
        const d = await check.receive({ timeout: 5000 });
        got.push(d.message.body!);
        d.accept();
      }
      expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    },
  );

  it(
    'items whose send the target rejects come out with error set; released, they go back to the source queue',
    { timeout: TIMEOUT },
    async () => {
      await startTheBroker();
      await fill('f-src2', 10);
      // The target: a listen() peer that rejects odd bodies.
      const listener = await listen();
      listeners.push(listener);
      listener.links$.subscribe((link) => {
        const target = link.acceptAsReceiver({ credit: 10 });
        track(
          target.subscribe(
            (d) => {
              if ((d.message.body as number) % 2 === 1) throw new Error(`odd body ${String(d.message.body)}`);
            },
            { onError: 'reject', concurrency: 4 },
          ),
        );
      });
      const targetConnection = await connect(listener.url);
      connections.push(targetConnection);
      const sender = await targetConnection.createSender('target');

      const c = await client();
      const r = await c.createReceiver({ source: 'f-src2', maxUnsettled: 10 });
      const out = await within(
        lastValueFrom(
          r.deliveries$().pipe(
            take(10),
            forwardTo(sender, (d: Delivery) => ({ body: d.message.body })),
            tap(({ item, error }: Forwarded<Delivery>) => {
              if (error) item.release();
              else item.accept();
            }),
            toArray(),
          ),
        ),
        10_000,
        'the pipeline',
      );
      expect(out).toHaveLength(10);
      const failed = out.filter((f) => f.error !== undefined);
      expect(failed.map((f) => f.item.message.body).sort()).toEqual([1, 3, 5, 7, 9]);
      for (const f of failed) {
        expect(f.error).toBeInstanceOf(DeliveryRejectedError);
        expect((f.error as DeliveryRejectedError).description).toBe(`odd body ${String(f.item.message.body)}`);
        expect(f.result).toBeUndefined();
      }
      expect(out.filter((f) => f.error === undefined).every((f) => f.result?.kind === 'accepted')).toBe(true);

      // The released inputs are the broker's again: close the forwarding consumer and read them back.
      await c.close();
      await until(
        () => depth('f-src2').inFlight === 0 && depth('f-src2').depth === 5,
        'the five released messages back in the source queue',
      );
      const again = await (await client()).createReceiver('f-src2');
      const back: AmqpValue[] = [];
      for (let i = 0; i < 5; i++) {
        const d = await again.receive({ timeout: 5000 });
        back.push(d.message.body!);
        d.accept();
      }
      expect(back.sort()).toEqual([1, 3, 5, 7, 9]);
    },
  );

  it('needs a function that makes the message', { timeout: TIMEOUT }, () => {
    expect(() => forwardTo({} as Sender, 'body' as never)).toThrow(InvalidArgumentError);
  });
});
