import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  connect,
  ConnectionLostError,
  Container,
  DeliveryModifiedError,
  DeliveryRejectedError,
  DeliveryReleasedError,
  HandlerError,
  LinkClosedError,
  listen,
  Reject,
  Release,
  startBroker,
  type AmqpError,
  type Connection,
  type ContainerListener,
  type Delivery,
  type Listener,
  type Message,
  type MessagingHandler,
  type Sender,
} from '../../src/index.js';

let peer: Listener | undefined;
let baseline: Map<string, number>;

/** Sockets, servers and timers alive now, by kind. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo())
    if (/TCP|Timeout|Immediate/.test(r)) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

beforeEach(async () => {
  await tick(10); // a closed socket or server stays listed until the next turns of the loop
  baseline = resources();
});

afterEach(async () => {
  await peer?.close();
  peer = undefined;
});

/**
 * Checks that nothing the container made is left: no socket, server or timer beyond the test's
 * own peer (`extra`). Closed handles stay listed for a few turns of the loop: allow them 1 s.
 */
async function expectNothingLeftBy(extra: Record<string, number> = {}): Promise<void> {
  const expected = new Map(baseline);
  for (const [kind, n] of Object.entries(extra)) expected.set(kind, (expected.get(kind) ?? 0) + n);
  const excess = (): string =>
    [...resources()]
      .filter(([k, n]) => n > (expected.get(k) ?? 0))
      .map(([k, n]) => `${k}: ${n} (expected at most ${expected.get(k) ?? 0})`)
      .join(', ');
  const end = Date.now() + 1000;
  while (excess() !== '' && Date.now() < end) await tick(10);
  expect(excess()).toBe('');
}

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A Quark peer that hands every link a peer sends on to `onReceiver`, and every link a peer receives on to `onSender`. */
async function startPeer(
  on: { receiver?: (d: Delivery) => void; sender?: (s: Sender) => void; credit?: number; refuse?: boolean } = {},
): Promise<Listener> {
  peer = await listen();
  peer.links$.subscribe((link) => {
    if (on.refuse) {
      link.refuse({ condition: 'amqp:not-found', description: 'no such node' });
    } else if (link.role === 'receiver') {
      link
        .acceptAsReceiver({ credit: on.credit ?? 10 })
        .deliveries$()
        .subscribe({ next: (d) => on.receiver?.(d), error: () => undefined });
    } else {
      on.sender?.(link.acceptAsSender());
    }
  });
  return peer;
}

describe('Container: Proton-style handlers over the client API', { timeout: 15_000 }, () => {
  it('helloworld: a message sent to a queue through the broker comes back to the receiver, is accepted, and run() resolves with nothing left running', async () => {
    const broker = await startBroker({ port: 0 });
    const seen: unknown[] = [];
    const events: string[] = [];
    const handler: MessagingHandler = {
      onStart(e) {
        const c = e.container.connect(broker.url);
        e.container.createReceiver(c, 'examples');
        e.container.createSender(c, 'examples');
      },
      onConnectionOpened: () => void events.push('connectionOpened'),
      onSessionOpened: () => void events.push('sessionOpened'),
      onLinkOpened: (e) => void events.push(`linkOpened:${e.sender ? 'sender' : 'receiver'}`),
      onSendable(e) {
        e.sender.send({ body: 'Hello World!' });
        e.sender.close();
      },
      onMessage(e) {
        seen.push(e.message.body);
        e.connection.close();
      },
      onConnectionClosed: () => void events.push('connectionClosed'),
    };
    await new Container(handler).run();
    const queue = broker.queues().find((q) => q.address === 'examples');
    await broker.close();
    expect(seen).toEqual(['Hello World!']);
    expect(queue).toMatchObject({ depth: 0, inFlight: 0 });
    expect(events).toEqual([
      'connectionOpened',
      'sessionOpened',
      'linkOpened:receiver',
      'linkOpened:sender',
      'connectionClosed',
    ]);
    await expectNothingLeftBy();
  });

  it('helloworld direct: a container listens, sends to itself, sees onMessage and onAccepted, and run() resolves once the listener is closed', async () => {
    const seen: unknown[] = [];
    let accepted = 0;
    let listener: ContainerListener | undefined;
    await new Container({
      onStart(e) {
        listener = e.container.listen('amqp://127.0.0.1:0');
        void listener.listening.then((l) => e.container.createSender(`${l.url}/examples`));
      },
      onSendable(e) {
        e.sender.send({ body: 'Hello World!' });
        e.sender.close();
      },
      onMessage: (e) => void seen.push(e.message.body),
      onAccepted(e) {
        accepted++;
        e.connection.close();
      },
      onConnectionClosed: () => listener?.close(),
    }).run();
    expect(seen).toEqual(['Hello World!']);
    expect(accepted).toBe(1);
    await expectNothingLeftBy();
  });

  it('sends N messages in onSendable within the credit, gets N onAccepted, and the listening side grants no more than its prefetch', async () => {
    const N = 60;
    let sent = 0;
    let accepted = 0;
    let sendable = 0;
    let maxCredit = 0;
    const received: unknown[] = [];
    let listener: ContainerListener | undefined;
    await new Container({
      prefetch: 5,
      onStart(e) {
        listener = e.container.listen({ port: 0 });
        void listener.listening.then((l) => e.container.createSender(`${l.url}/q`));
      },
      onSendable(e) {
        sendable++;
        maxCredit = Math.max(maxCredit, e.sender.credit);
        while (e.sender.credit > 0 && sent < N) e.sender.send({ body: sent++ });
      },
      onMessage: (e) => void received.push(e.message.body),
      onAccepted(e) {
        if (++accepted === N) {
          e.connection.close();
          listener?.close();
        }
      },
    }).run();
    expect(accepted).toBe(N);
    expect(received).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(maxCredit).toBe(5);
    expect(sendable).toBeGreaterThanOrEqual(N / 5);
    await expectNothingLeftBy();
  });

  it("a receiver asks for exactly its handler's prefetch; with prefetch 0 nothing comes until receiver.flow(n), and then exactly n", async () => {
    const credits: number[] = [];
    let peerSender: Sender | undefined;
    await startPeer({
      sender: (s) => {
        peerSender = s;
        s.events$.subscribe((e) => e.type === 'sendable' && credits.push(e.credit));
      },
    });
    const received: unknown[] = [];
    const container = new Container({ prefetch: 3 });
    const run = container.run();
    const c = container.connect(peer!.url);
    container.createReceiver(c, 'q');
    await until(() => credits.length > 0);
    expect(credits).toEqual([3]);

    // prefetch 0 on the link's handler (the most specific scope wins).
    credits.length = 0;
    container.createReceiver(c, 'q0', {
      handler: {
        prefetch: 0,
        onLinkOpened: (e) => void setTimeout(() => e.receiver!.flow(2), 50),
        onMessage: (e) => void received.push(e.message.body),
      },
    });
    await until(() => peerSender !== undefined && peerSender.name.includes('receiver-2'));
    const zeroCreditSender = peerSender!;
    await tick(20);
    expect(zeroCreditSender.credit).toBe(0);
    const sends = [1, 2, 3, 4, 5].map((i) => zeroCreditSender.send({ body: i }).catch(() => undefined));
    await until(() => received.length === 2);
    await tick(50);
    expect(received).toEqual([1, 2]);
    expect(zeroCreditSender.pending).toBe(3);
    container.stop();
    await run;
    await Promise.all(sends);
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it("autoAccept (the default) accepts each message once onMessage returns; the peer's send resolves accepted", async () => {
    const container = new Container({ onMessage: () => undefined });
    const outcome = await sendOneTo(container, { body: 'x' });
    expect(outcome).toEqual({ kind: 'accepted' });
  });

  it('with autoAccept off a message stays unsettled until the handler settles it', async () => {
    let kept: Delivery | undefined;
    let second = false;
    const container = new Container({
      autoAccept: false,
      onMessage(e) {
        if (kept) second = true;
        else kept = e.delivery;
      },
    });
    const run = container.run();
    const { sender } = await clientTo(container);
    const first = sender.send({ body: 1 }).catch((err: unknown) => err);
    const later = sender.send({ body: 2 }).catch((err: unknown) => err);
    await until(() => second);
    let firstSettled = false;
    void first.then(() => (firstSettled = true));
    await tick(50);
    expect(firstSettled).toBe(false);
    kept!.release();
    expect(await first).toBeInstanceOf(DeliveryReleasedError);
    container.stop();
    await run;
    await later;
  });

  it('onMessage throwing Reject rejects the message, Release modifies it, Release({ delivered: false }) releases it, and the container goes on', async () => {
    const container = new Container({
      onMessage(e) {
        if (e.message.body === 'reject')
          throw new Reject({ condition: 'app:bad-order', description: 'no such product' });
        if (e.message.body === 'modify') throw new Release();
        if (e.message.body === 'release') throw new Release({ delivered: false });
      },
    });
    const run = container.run();
    const { sender } = await clientTo(container);
    const rejected = await sender.send({ body: 'reject' }).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(DeliveryRejectedError);
    expect((rejected as DeliveryRejectedError).condition).toBe('app:bad-order');
    expect(await sender.send({ body: 'modify' }).catch((e: unknown) => e)).toBeInstanceOf(DeliveryModifiedError);
    expect(await sender.send({ body: 'release' }).catch((e: unknown) => e)).toBeInstanceOf(DeliveryReleasedError);
    expect(await sender.send({ body: 'fine' })).toEqual({ kind: 'accepted' });
    container.stop();
    await run;
  });

  it('onMessage throwing an error rejects the message with amqp:internal-error, closes the connection with amqp:internal-error, and run() rejects with a HandlerError', async () => {
    const boom = new Error('database down');
    const container = new Container({
      onMessage() {
        throw boom;
      },
    });
    const run = container.run().catch((e: unknown) => e);
    const { sender, connection } = await clientTo(container);
    const closed = new Promise<AmqpError | undefined>((resolve) =>
      connection.events$.subscribe((e) => e.type === 'closed' && resolve(e.error)),
    );
    const outcome = await sender.send({ body: 'x' }).catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(DeliveryRejectedError);
    expect((outcome as DeliveryRejectedError).condition).toBe('amqp:internal-error');
    expect((outcome as DeliveryRejectedError).description).toContain('database down');
    const closeError = await closed;
    expect(closeError?.condition).toBe('amqp:internal-error');
    expect(closeError?.description).toContain('onMessage failed: database down');
    const err = await run;
    expect(err).toBeInstanceOf(HandlerError);
    expect((err as HandlerError).method).toBe('onMessage');
    expect((err as HandlerError).cause).toBe(boom);
    await connection.close();
    await expectNothingLeftBy();
  });

  it('an async handler method whose promise rejects is a handler failure too: run() rejects and the connection is closed', async () => {
    await startPeer({ sender: () => undefined });
    const container = new Container({
      onStart: (e) => void e.container.createReceiver(peer!.url + '/q'),
      async onLinkOpened() {
        await tick(5);
        throw new Error('late failure');
      },
    });
    const err = await container.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandlerError);
    expect((err as HandlerError).method).toBe('onLinkOpened');
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it("the peer's outcomes arrive as onRejected, onReleased (released and modified), onAccepted, each followed by onSettled; none is an unhandled rejection", async () => {
    let n = 0;
    await startPeer({
      receiver: (d) => {
        const i = n++;
        if (i === 0) d.reject({ condition: 'amqp:precondition-failed', description: 'no' });
        else if (i === 1) d.release();
        else if (i === 2) d.modify({ deliveryFailed: true });
        else d.accept();
      },
    });
    const log: string[] = [];
    let sent = 0;
    await new Container({
      onStart: (e) => void e.container.createSender(e.container.connect(peer!.url), 'q'),
      onSendable(e) {
        while (e.sender.credit > 0 && sent < 4) e.sender.send({ body: sent++ });
      },
      onRejected: (e) =>
        void log.push(
          `rejected ${e.delivery.tag.toString()} ${e.outcome?.kind === 'rejected' ? e.outcome.error?.condition : ''}`,
        ),
      onReleased: (e) => void log.push(`released ${e.delivery.tag.toString()} ${e.outcome?.kind}`),
      onAccepted: (e) => void log.push(`accepted ${e.delivery.tag.toString()}`),
      onSettled(e) {
        log.push(`settled ${e.delivery.tag.toString()}`);
        expect(e.delivery.settled).toBe(true);
        if (e.sender.unsettled === 0 && sent === 4) e.connection.close();
      },
    }).run();
    expect(log).toEqual([
      'rejected 48 amqp:precondition-failed',
      'settled 48',
      'released 49 released',
      'settled 49',
      'released 50 modified',
      'settled 50',
      'accepted 51',
      'settled 51',
    ]);
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it("a refused attach calls onLinkError with the peer's condition", async () => {
    await startPeer({ refuse: true });
    const errors: string[] = [];
    let opened = false;
    await new Container({
      onStart: (e) => void e.container.createSender(e.container.connect(peer!.url), 'nowhere'),
      onLinkOpened: () => void (opened = true),
      onLinkError(e) {
        errors.push(`${e.sender ? 'sender' : 'receiver'} ${e.error.condition} ${e.error instanceof LinkClosedError}`);
        e.connection.close();
      },
    }).run();
    expect(errors).toEqual(['sender amqp:not-found true']);
    expect(opened).toBe(false);
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it('a refused attach nobody handles closes the connection (as Proton does) and rejects run() with the error', async () => {
    await startPeer({ refuse: true });
    let closed = false;
    const err = await new Container({
      onStart: (e) => void e.container.createReceiver(e.container.connect(peer!.url), 'nowhere'),
      onConnectionClosed: () => void (closed = true),
    })
      .run()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinkClosedError);
    expect((err as LinkClosedError).condition).toBe('amqp:not-found');
    expect(closed).toBe(true);
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it('with reconnect off, onDisconnected fires when the peer drops the socket, and run() resolves', async () => {
    await startPeer();
    peer!.connections$.subscribe((c: Connection) => setTimeout(() => c.transport!.stream.destroy(), 30));
    const events: string[] = [];
    await new Container({
      onStart: (e) => void e.container.connect({ url: peer!.url, reconnect: false }),
      onConnectionOpened: () => void events.push('opened'),
      onDisconnected: (e) =>
        void events.push(`disconnected ${e.error instanceof ConnectionLostError} reconnecting=${e.reconnecting}`),
      onConnectionClosed: () => void events.push('closed'),
    }).run();
    expect(events).toEqual(['opened', 'disconnected true reconnecting=false']);
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it('reconnects by default, as Proton does: onDisconnected (reconnecting) then onReconnected, and the receiver goes on receiving with no handler code for it', async () => {
    let attaches = 0;
    // The receiver's second attach (on the new connection) gets the message.
    await startPeer({
      sender: (s) => void (++attaches === 2 && s.send({ body: 'after the drop' }).catch(() => undefined)),
    });
    let accepted = 0;
    peer!.connections$.subscribe((c: Connection) => {
      // The first connection is dropped once its link is attached; the second one lives.
      if (++accepted === 1) setTimeout(() => c.transport!.stream.destroy(), 50);
    });
    const events: string[] = [];
    const bodies: unknown[] = [];
    const container = new Container({
      onStart: (e) => void e.container.createReceiver(peer!.url + '/q'),
      onConnectionOpened: () => void events.push('opened'),
      onDisconnected: (e) => void events.push(`disconnected reconnecting=${e.reconnecting}`),
      onReconnected: (e) => void events.push(`reconnected ${e.url === peer!.url}`),
      onMessage: (e) => {
        bodies.push(e.message.body);
        e.container.stop();
      },
    });
    await container.run();
    expect(events).toEqual(['opened', 'disconnected reconnecting=true', 'reconnected true']);
    expect(bodies).toEqual(['after the drop']);
    expect(accepted).toBe(2);
    expect(attaches).toBe(2);
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it('a refused TCP connection is onTransportError then onDisconnected; unhandled, run() rejects with it', async () => {
    const port = await freePort();
    const events: string[] = [];
    await new Container({
      onStart: (e) => void e.container.connect(`amqp://127.0.0.1:${port}`),
      onTransportError: (e) => void events.push(`transportError ${e.error.message.includes('refused')}`),
      onDisconnected: () => void events.push('disconnected'),
    }).run();
    expect(events).toEqual(['transportError true', 'disconnected']);
    const err = await new Container({ onStart: (e) => void e.container.connect(`amqp://127.0.0.1:${port}`) })
      .run()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    await expectNothingLeftBy();
  });

  it('schedule() fires the callback after the delay and keeps run() going until then; a cancelled task never fires and lets run() end at once', async () => {
    const fired: number[] = [];
    const t0 = performance.now();
    let cancelledFired = false;
    await new Container({
      onStart(e) {
        e.container.schedule(80, () => void fired.push(performance.now() - t0));
        e.container.schedule(10_000, () => void (cancelledFired = true)).cancel();
      },
    }).run();
    expect(fired.length).toBe(1);
    expect(fired[0]).toBeGreaterThanOrEqual(75);
    expect(cancelledFired).toBe(false);

    const t1 = performance.now();
    let timerTask = 0;
    await new Container({
      onStart(e) {
        const task = e.container.schedule(10_000);
        e.container.schedule(10, { onTimerTask: () => void task.cancel() });
      },
      onTimerTask: () => void timerTask++,
    }).run();
    expect(performance.now() - t1).toBeLessThan(2000);
    expect(timerTask).toBe(0);
    await expectNothingLeftBy();
  });

  it("a task without a callback calls the container handler's onTimerTask", async () => {
    const tasks: string[] = [];
    await new Container({
      onStart: (e) => void e.container.schedule(5),
      onTimerTask: (e) => void tasks.push(e.task.state),
    }).run();
    expect(tasks).toEqual(['fired']);
  });

  it('stop() closes listeners, connections and timers, and run() resolves', async () => {
    let url: string | undefined;
    const container = new Container({
      onStart(e) {
        void e.container.listen('amqp://127.0.0.1:0').listening.then((l) => {
          url = l.url;
          e.container.connect(l.url!);
        });
        e.container.schedule(60_000, () => undefined);
      },
      onConnectionOpened: (e) => void e.container.stop(),
    });
    await container.run();
    expect(url).toBeDefined();
    const port = Number(new URL(url!).port);
    await expect(
      new Promise((resolve, reject) => net.connect(port, '127.0.0.1').on('connect', resolve).on('error', reject)),
    ).rejects.toThrow(/ECONNREFUSED/);
    await expectNothingLeftBy();
  });

  it('the most specific handler that defines a method wins: link, then connection, then container', async () => {
    await startPeer({ sender: (s) => void s.send({ body: 'm' }).catch(() => undefined) });
    const calls: string[] = [];
    await new Container({
      onConnectionOpened: () => void calls.push('container:connectionOpened'),
      onLinkOpened: () => void calls.push('container:linkOpened'),
      onMessage: () => void calls.push('container:message'),
      onStart(e) {
        const c = e.container.connect(peer!.url, {
          handler: {
            onLinkOpened: () => void calls.push('connection:linkOpened'),
            onMessage: () => void calls.push('connection:message'),
          },
        });
        e.container.createReceiver(c, 'q', {
          handler: {
            onMessage(ev) {
              calls.push('link:message');
              ev.connection.close();
            },
          },
        });
      },
    }).run();
    expect(calls).toEqual(['container:connectionOpened', 'connection:linkOpened', 'link:message']);
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it('onSendable throwing stops the container: the peer sees amqp:internal-error and run() rejects with a HandlerError', async () => {
    let peerClose: AmqpError | undefined;
    await startPeer();
    peer!.connections$.subscribe((c) => c.events$.subscribe((e) => e.type === 'closed' && (peerClose = e.error)));
    const err = await new Container({
      onStart: (e) => void e.container.createSender(`${peer!.url}/q`),
      onSendable() {
        throw new TypeError('oops');
      },
    })
      .run()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandlerError);
    expect((err as HandlerError).method).toBe('onSendable');
    await until(() => peerClose !== undefined);
    expect(peerClose?.condition).toBe('amqp:internal-error');
    await expectNothingLeftBy({ TCPServerWrap: 1 });
  });

  it('run() twice is refused, and autoSettle: false is refused up front', async () => {
    const c = new Container();
    await c.run();
    await expect(c.run()).rejects.toThrow(/already run/);
    expect(() => new Container({ autoSettle: false })).toThrow(InvalidArgumentError);
  });
});

/** Starts a listener on `container`, and connects a plain Quark client sender to it. */
async function clientTo(container: Container): Promise<{ connection: Connection; sender: Sender }> {
  const l = await container.listen({ port: 0 }).listening;
  // The container is the peer under test: when it closes the connection, this client must not come back.
  const connection = await connect({ url: l.url!, reconnect: false });
  const sender = await connection.createSender('q');
  return { connection, sender };
}

async function sendOneTo(container: Container, message: Message): Promise<unknown> {
  const run = container.run();
  const { sender } = await clientTo(container);
  const outcome = await sender.send(message);
  container.stop();
  await run;
  return outcome;
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await tick(5);
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
