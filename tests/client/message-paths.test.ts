/**
 * Behaviour of the per-message paths that are kept free of allocations (events built only when
 * observed, no cancellation watcher without a signal or timeout, one taker per message, large
 * messages handed over without a copy).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import {
  InvalidArgumentError,
  AbortError,
  connect,
  decodeMessage,
  DeliveryModifiedError,
  DeliveryRejectedError,
  DeliveryReleasedError,
  encodeMessage,
  LinkClosedError,
  listen,
  TimeoutError,
  type Connection,
  type Delivery,
  type Listener,
  type Receiver,
  type Sender,
} from '../../src/index.js';

let listener: Listener | undefined;
let client: Connection | undefined;
afterEach(async () => {
  await client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

/** A listener whose first incoming link becomes a receiver with this credit window. */
async function listenForReceiver(credit: number): Promise<{ receiver: Promise<Receiver> }> {
  listener = await listen();
  const receiver = new Promise<Receiver>((resolve) => {
    const sub = listener!.links$.subscribe((link) => {
      sub.unsubscribe();
      resolve(link.acceptAsReceiver({ credit }));
    });
  });
  return { receiver };
}

/** A sender on a client connection to a listener, and the receiver (with this credit window) its link became. */
async function senderAndReceiver(
  credit: number,
  connectOptions: { maxFrameSize?: number } = {},
): Promise<{ sender: Sender; receiver: Receiver }> {
  const { receiver } = await listenForReceiver(credit);
  client = await connect({ url: listener!.url, ...connectOptions });
  const sender = await client.createSender('q');
  return { sender, receiver: await receiver };
}

describe('per-message paths', () => {
  it('a send waiting for credit fails with TimeoutError after its timeout, or AbortError when aborted, and is never sent', async () => {
    const { sender, receiver } = await senderAndReceiver(0);
    const timedOut = sender.send({ body: 'timed out' }, { timeout: 20 }).catch((e: unknown) => e);
    const controller = new AbortController();
    const aborted = sender.send({ body: 'aborted' }, { signal: controller.signal }).catch((e: unknown) => e);
    const plain = sender.send({ body: 'plain' });
    expect(await timedOut).toBeInstanceOf(TimeoutError);
    controller.abort();
    expect(await aborted).toBeInstanceOf(AbortError);
    expect(sender.pending).toBe(1);
    receiver.addCredit(5);
    const delivery = await receiver.receive({ timeout: 5000 });
    delivery.accept();
    expect(delivery.message.body).toBe('plain');
    expect((await plain)?.kind).toBe('accepted');
    expect(receiver.buffered).toBe(0);
  });

  it('a send with a timeout that settles in time resolves with the outcome', async () => {
    const { sender, receiver } = await senderAndReceiver(5);
    const sent = sender.send({ body: 'in time' }, { timeout: 5000 });
    (await receiver.receive()).accept();
    expect((await sent)?.kind).toBe('accepted');
  });

  it('a listening side observing its connection events$ gets a message event for each delivery', async () => {
    listener = await listen();
    const messages: Delivery[] = [];
    listener.connections$.subscribe((c) =>
      c.events$
        .pipe(filter((e) => e.type === 'message'))
        .subscribe((e) => e.type === 'message' && messages.push(e.delivery)),
    );
    listener.links$.subscribe((link) =>
      link.acceptAsReceiver({ credit: 10, autoAccept: true }).deliveries$().subscribe(),
    );
    client = await connect(listener.url);
    const sender = await client.createSender('q');
    await sender.send({ body: 1 });
    await sender.send({ body: 2 });
    expect(messages.map((d) => d.message.body)).toEqual([1, 2]);
  });

  it('when the subscriber taking messages from deliveries$ leaves, the next subscriber takes the following ones', async () => {
    const { sender, receiver } = await senderAndReceiver(10);
    const first = firstValueFrom(receiver.deliveries$().pipe(take(2), toArray()));
    const second = firstValueFrom(receiver.deliveries$().pipe(take(2), toArray()));
    const outcomes = [1, 2, 3, 4].map((n) => sender.send({ body: n }));
    const a = await first;
    const b = await second;
    for (const d of [...a, ...b]) d.accept();
    expect(a.map((d) => d.message.body)).toEqual([1, 2]);
    expect(b.map((d) => d.message.body)).toEqual([3, 4]);
    expect((await Promise.all(outcomes)).every((o) => o?.kind === 'accepted')).toBe(true);
  });

  it('a listener lists a connection while it is open and forgets it once its socket has closed', async () => {
    listener = await listen();
    const opened = firstValueFrom(listener.connections$);
    client = await connect(listener.url);
    const server = await opened;
    expect(listener.connections).toEqual([server]);
    await client.close();
    client = undefined;
    const deadline = Date.now() + 5000;
    while (listener.connections.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(listener.connections).toEqual([]);
  });

  it('large messages encoded one after another each keep their own bytes', () => {
    const big = (fill: number): Uint8Array => new Uint8Array(1.5 * 1024 * 1024).fill(fill);
    const a = encodeMessage({ subject: 'a', body: big(0xaa) });
    const b = encodeMessage({ subject: 'b', body: big(0xbb) });
    const small = encodeMessage({ subject: 'small', body: new Uint8Array([1, 2, 3]) });
    const da = decodeMessage(a);
    const db = decodeMessage(b);
    expect(da.subject).toBe('a');
    expect(db.subject).toBe('b');
    expect((da.body as Uint8Array).every((x) => x === 0xaa)).toBe(true);
    expect((db.body as Uint8Array).every((x) => x === 0xbb)).toBe(true);
    expect([...(decodeMessage(small).body as Uint8Array)]).toEqual([1, 2, 3]);
  });
});

describe('a send whose signal is already aborted', () => {
  it('rejects with AbortError and sends nothing, on the direct path and when waiting for credit', async () => {
    const { sender, receiver } = await senderAndReceiver(5);
    const aborted = AbortSignal.abort();
    await expect(sender.send({ body: 'never (direct)' }, { signal: aborted })).rejects.toBeInstanceOf(AbortError);
    await expect(
      sender.sendPayload(encodeMessage({ body: 'never (payload)' }), { signal: aborted }),
    ).rejects.toBeInstanceOf(AbortError);
    const plain = sender.send({ body: 'plain' });
    const delivery = await receiver.receive({ timeout: 5000 });
    delivery.accept();
    expect(delivery.message.body).toBe('plain');
    expect((await plain)?.kind).toBe('accepted');
    expect(receiver.buffered).toBe(0);
    expect(sender.pending).toBe(0);
  });
});

describe('a receive whose signal is already aborted', () => {
  it('rejects with AbortError and takes nothing: the next message goes to the next receive', async () => {
    const { sender, receiver } = await senderAndReceiver(5);
    await expect(receiver.receive({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const sent = sender.send({ body: 'kept' });
    const delivery = await receiver.receive({ timeout: 5000 });
    expect(delivery.message.body).toBe('kept');
    delivery.accept();
    expect((await sent)?.kind).toBe('accepted');
  });
});

describe('large messages sent from reused buffers', () => {
  it('arrive intact when many are in flight at once, each different, with each buffer reused once its send settled (the documented contract: bodies of 64 KiB and more are sent by reference)', async () => {
    const { sender, receiver } = await senderAndReceiver(4, { maxFrameSize: 65536 });
    const size = 300_000;
    const count = 40;
    const buffers = [Buffer.alloc(size), Buffer.alloc(size), Buffer.alloc(size)];
    const settled: (Promise<unknown> | undefined)[] = [undefined, undefined, undefined];
    const expected = (i: number, at: number): number => (i * 131 + at * 7) & 0xff;
    const sends: Promise<unknown>[] = [];
    const receiving = (async () => {
      for (let i = 0; i < count; i++) {
        const d = await receiver.receive({ timeout: 10_000 });
        const got = d.message.body as Uint8Array;
        expect(got.length).toBe(size);
        expect(Buffer.from(got).readUInt32BE(0)).toBe(i);
        for (let at = 997; at < size; at += 997)
          if (got[at] !== expected(i, at)) throw new Error(`message ${i} corrupted at byte ${at}`);
        d.accept();
      }
    })();
    for (let i = 0; i < count; i++) {
      const k = i % buffers.length;
      await settled[k]; // the buffer's last send settled: it may be changed now
      const body = buffers[k]!;
      for (let at = 0; at < size; at += 997) body[at] = expected(i, at);
      body.writeUInt32BE(i, 0);
      const sent = sender.send({ body });
      settled[k] = sent;
      sends.push(sent);
    }
    await receiving;
    await Promise.all(sends);
  });

  it('a body under 64 KiB is copied when sent: changing it right after send() does not change what is sent', async () => {
    const { sender, receiver } = await senderAndReceiver(4);
    const body = Buffer.alloc(60_000, 1);
    const sent = [sender.send({ body }), sender.send({ body: body.fill(2) })];
    body.fill(3);
    for (const fill of [1, 2]) {
      const d = await receiver.receive({ timeout: 10_000 });
      expect((d.message.body as Uint8Array).every((x) => x === fill)).toBe(true);
      d.accept();
    }
    await Promise.all(sent);
  });
});

describe('a send with a bad timeout', () => {
  it('rejects with an InvalidArgumentError at once and sends nothing', async () => {
    const { sender, receiver } = await senderAndReceiver(5);
    await expect(sender.send({ body: 'never' }, { timeout: -1 })).rejects.toThrow(
      /timeout must be a non-negative number/,
    );
    await expect(sender.send({ body: 'never' }, { timeout: Number.NaN })).rejects.toBeInstanceOf(InvalidArgumentError);
    const sent = sender.send({ body: 'only this' });
    const delivery = await receiver.receive({ timeout: 5000 });
    expect(delivery.message.body).toBe('only this');
    delivery.accept();
    await sent;
  });
});

/** Runs `body`, then fails if any promise rejection went unhandled meanwhile. */
async function expectNoUnhandledRejection(body: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    // Let Node's unhandled-rejection bookkeeping run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}

describe('outcomes of sends in flight', () => {
  it('reject each send with its typed error (with and without a signal), and leave no unhandled rejection', async () => {
    await expectNoUnhandledRejection(async () => {
      const { sender, receiver } = await senderAndReceiver(10);
      const signal = new AbortController().signal;
      const sends = [
        sender.send({ body: 'rejected' }),
        sender.send({ body: 'released' }),
        sender.send({ body: 'modified' }),
        sender.send({ body: 'rejected, watched' }, { signal }),
        sender.send({ body: 'accepted, watched' }, { timeout: 10_000 }),
      ].map((p) =>
        p.then(
          (r) => r?.kind,
          (e: unknown) => e,
        ),
      );
      for (let i = 0; i < 5; i++) {
        const d = await receiver.receive({ timeout: 5000 });
        const body = d.message.body as string;
        if (body.startsWith('rejected')) d.reject({ condition: 'amqp:precondition-failed', description: 'no' });
        else if (body === 'released') d.release();
        else if (body === 'modified') d.modify({ deliveryFailed: true });
        else d.accept();
      }
      const [rejected, released, modified, rejectedWatched, accepted] = await Promise.all(sends);
      expect(rejected).toBeInstanceOf(DeliveryRejectedError);
      expect((rejected as DeliveryRejectedError).condition).toBe('amqp:precondition-failed');
      expect(released).toBeInstanceOf(DeliveryReleasedError);
      expect(modified).toBeInstanceOf(DeliveryModifiedError);
      expect(rejectedWatched).toBeInstanceOf(DeliveryRejectedError);
      expect(accepted).toBe('accepted');
    });
  });

  it('reject the sends still in flight when the peer closes the link, with no unhandled rejection', async () => {
    await expectNoUnhandledRejection(async () => {
      const { sender, receiver } = await senderAndReceiver(10);
      const sends = [sender.send({ body: 'a' }), sender.send({ body: 'b' })].map((p) => p.catch((e: unknown) => e));
      await receiver.receive({ timeout: 5000 });
      await receiver.close();
      for (const e of await Promise.all(sends)) expect(e).toBeInstanceOf(LinkClosedError);
    });
  });
});

describe('calls whose signal is already aborted', () => {
  it('reject with AbortError and leave no session or link open behind them', async () => {
    listener = await listen();
    client = await connect(listener.url);
    const aborted = AbortSignal.abort();
    await expect(client.createSession({ signal: aborted })).rejects.toBeInstanceOf(AbortError);
    const session = await client.createSession();
    await expect(session.createSender({ target: 'q', signal: aborted })).rejects.toBeInstanceOf(AbortError);
    await expect(session.createReceiver({ source: 'q', signal: aborted })).rejects.toBeInstanceOf(AbortError);
    // Let any frames the calls wrote reach the peer and come back.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const engine = client.engine;
    expect(engine.sessions.filter((s) => s.localState === 'open')).toHaveLength(1); // only `session`
    expect(engine.sessions.flatMap((s) => s.links).filter((l) => l.localState === 'open')).toHaveLength(0);
  });
});

describe('a listener whose waiting link the peer gave up on', () => {
  it('closes cleanly, answering the detach', async () => {
    const own = await listen(); // nobody takes its links: they wait
    const c = await connect(own.url);
    await expect(c.createSender({ target: 'q', timeout: 50 })).rejects.toBeInstanceOf(TimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the detach reaches the listener
    await own.close();
    expect(c.isOpen).toBe(false);
  });
});
