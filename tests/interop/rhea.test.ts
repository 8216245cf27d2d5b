/**
 * Quark's engine and client API against rhea (an independent JavaScript AMQP 1.0 implementation),
 * both ways: Quark's client against a rhea listener, and a rhea client against Quark's `listen()`.
 *
 * Facts about rhea this suite relies on (PEERS.md):
 * - rhea splits a transfer by the peer's max frame size, and Quark must split by rhea's.
 * - rhea coalesces the dispositions it writes in one tick without comparing outcomes, so a reject
 *   or release settled in the same tick as an accept goes out as accepted. Where rhea is the
 *   receiving side and settles mixed outcomes, it settles one delivery per event-loop turn.
 * - rhea clients and listeners leave TCP_NODELAY off unless `tcp_no_delay` is set: we set it.
 */
import { once } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import rhea, {
  type Connection as RheaConnection,
  type Delivery as RheaDelivery,
  type EventContext,
  type Message as RheaMessage,
  type Receiver as RheaReceiver,
  type Sender as RheaSender,
  type Source,
  type TerminusOptions,
} from 'rhea';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeliveryModifiedError,
  DeliveryRejectedError,
  DeliveryReleasedError,
  connect,
  listen,
  long,
  symbol,
  ubyte,
  uint,
  ulong,
  uuid,
  type AmqpValue,
  type Connection,
  type Delivery,
  type Listener,
  type Message,
} from '../../src/index.js';
import { typedTree } from '../support/typed-tree.js';

type Outcome = 'accept' | 'reject' | 'release' | 'modify';
const OUTCOMES: Outcome[] = ['accept', 'reject', 'release', 'modify'];
/** rhea's event name for each outcome it sees as a sender. */
const RHEA_EVENT: Record<Outcome, string> = {
  accept: 'accepted',
  reject: 'rejected',
  release: 'released',
  modify: 'modified',
};

/** Deterministic bytes, so a reassembly error cannot go unnoticed. */
const pattern = (n: number): Buffer =>
  Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >> 8)) & 0xff));

// ---- Resources every test cleans up ----

const quarkConnections: Connection[] = [];
const rheaConnections = new Set<RheaConnection>();
const servers: Server[] = [];
let listener: Listener | undefined;

afterEach(async () => {
  await Promise.all(quarkConnections.splice(0).map((c) => c.close()));
  await Promise.all(
    [...rheaConnections].map(async (c) => {
      if (!c.is_closed()) {
        // rhea emits 'disconnected' only for connections lost, 'connection_close' for a clean close.
        const closed = Promise.race([once(c, 'connection_close'), once(c, 'disconnected')]);
        c.close();
        await closed;
      }
    }),
  );
  rheaConnections.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  await listener?.close();
  listener = undefined;
});

/** Records what a rhea peer received, and the outcomes rhea's senders saw. */
interface RheaPeer {
  port: number;
  /** Messages rhea received, per target address. */
  received: Map<string, RheaMessage[]>;
  /** The outcome event each message rhea sent got (rhea's event name), by message id, in order of arrival. */
  outcomes: Map<string, string>;
}

/**
 * Starts a rhea listener on 127.0.0.1 (port 0). Its receivers accept what arrives, except on
 * address `outcomes`, where each message is settled as its subject says (one per turn, see above).
 * Its senders send `toSend(address)` when the peer gives credit.
 */
async function rheaListener(options: {
  maxFrameSize: number;
  toSend?: (address: string) => RheaMessage[];
}): Promise<RheaPeer> {
  const container = rhea.create_container({ id: 'rhea-listener' });
  const peer: RheaPeer = { port: 0, received: new Map(), outcomes: new Map() };
  const settleQueue: (() => void)[] = [];
  const messageIds = new WeakMap<RheaDelivery, string>();
  const settleNext = (): void => {
    settleQueue.shift()?.();
    if (settleQueue.length > 0) setImmediate(settleNext);
  };
  container.on('connection_open', (ctx: EventContext) => rheaConnections.add(ctx.connection));
  // rhea answers an attach with no terminus (a refusal, to the spec) unless told which: echo the peer's.
  container.on('receiver_open', (ctx: EventContext) => ctx.receiver!.set_target(remoteAttach(ctx.receiver!).target));
  container.on('sender_open', (ctx: EventContext) => ctx.sender!.set_source(remoteAttach(ctx.sender!).source));
  container.on('message', (ctx: EventContext) => {
    const address = String(ctx.receiver?.target?.address);
    const list = peer.received.get(address) ?? [];
    list.push(ctx.message!);
    peer.received.set(address, list);
    const delivery = ctx.delivery!;
    if (address !== 'outcomes') {
      delivery.accept();
      return;
    }
    settleQueue.push(() => settleAs(delivery, ctx.message!.subject as Outcome));
    if (settleQueue.length === 1) setImmediate(settleNext);
  });
  container.on('sendable', (ctx: EventContext) => {
    const sender = ctx.sender! as RheaSender & { pending?: RheaMessage[] };
    sender.pending ??= options.toSend?.(String(sender.source?.address)) ?? [];
    // Not at once: rhea 3.0.5 writes transfers sent from the first 'sendable' of a link it opened
    // in answer to the peer's attach BEFORE its own attach (Quark rightly closes the connection
    // with amqp:session:unattached-handle). One turn later the attach has gone out.
    setImmediate(() => {
      const pending = sender.pending!;
      while (pending.length > 0 && sender.sendable()) {
        const message = pending.shift()!;
        messageIds.set(sender.send(message), String(message.message_id));
      }
    });
  });
  for (const outcome of OUTCOMES) {
    container.on(RHEA_EVENT[outcome], (ctx: EventContext) => {
      peer.outcomes.set(messageIds.get(ctx.delivery!) ?? '?', RHEA_EVENT[outcome]);
    });
  }
  const server = container.listen({
    port: 0,
    host: '127.0.0.1',
    max_frame_size: options.maxFrameSize,
    autoaccept: false,
    treat_modified_as_released: false,
    tcp_no_delay: true,
  } as Parameters<typeof container.listen>[0]) as Server;
  servers.push(server);
  await once(server, 'listening');
  peer.port = (server.address() as AddressInfo).port;
  return peer;
}

/** The peer's attach as rhea holds it (its typings leave `remote` out). */
function remoteAttach(link: RheaSender | RheaReceiver): { source: Source; target: TerminusOptions } {
  return (link as unknown as { remote: { attach: { source: Source; target: TerminusOptions } } }).remote.attach;
}

function settleAs(delivery: RheaDelivery, outcome: Outcome): void {
  switch (outcome) {
    case 'accept':
      return delivery.accept();
    case 'reject':
      return delivery.reject({ condition: 'amqp:precondition-failed', description: 'rhea says no' });
    case 'release':
      return delivery.release();
    case 'modify':
      return delivery.modified({ delivery_failed: true, undeliverable_here: true });
  }
}

/** Settles a Quark delivery as its subject says. */
function settleQuark(d: Delivery): void {
  const outcome = d.message.subject as Outcome;
  if (outcome === 'reject') d.reject({ condition: 'amqp:precondition-failed', description: 'quark says no' });
  else if (outcome === 'release') d.release();
  else if (outcome === 'modify') d.modify({ deliveryFailed: true, undeliverableHere: true });
  else d.accept();
}

/** Messages with subjects cycling through the outcomes, numbered in their body. */
const outcomeMessages = (n: number): { subject: Outcome; body: number }[] =>
  Array.from({ length: n }, (_, i) => ({ subject: OUTCOMES[i % OUTCOMES.length]!, body: i }));

async function quark(port: number, maxFrameSize?: number): Promise<Connection> {
  const c = await connect({ host: '127.0.0.1', port, maxFrameSize, timeout: 10_000, values: 'exact' });
  quarkConnections.push(c);
  return c;
}

async function waitFor(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("Quark's client against a rhea listener", () => {
  it("messages Quark sends arrive at rhea whole and in order, one bigger than rhea's max frame included", async () => {
    const peer = await rheaListener({ maxFrameSize: 4096 });
    const c = await quark(peer.port);
    expect(c.remoteOpen?.maxFrameSize).toBe(4096);
    const sender = await c.createSender('inbox');
    const big = pattern(100_000);
    const sent = [
      ...Array.from({ length: 300 }, (_, i): Message => ({ subject: 'small', body: i })),
      // Its body goes out by reference, between the encoded sections before it and the footer.
      { subject: 'big', messageAnnotations: { 'x-opt-note': 'before' }, body: big, footer: { 'x-check': 'after' } },
      {
        subject: 'props',
        applicationProperties: { s: 'text', i: -7, u: ulong(5), sym: symbol('x') },
        body: 'after the big one',
      },
    ];
    const outcomes = await Promise.all(sent.map((m) => sender.send(m)));
    expect(outcomes.every((o) => o?.kind === 'accepted')).toBe(true);
    const got = peer.received.get('inbox') ?? [];
    expect(got.map((m) => m.subject)).toEqual(sent.map((m) => m.subject));
    expect(got.slice(0, 300).map((m) => m.body)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // rhea gives a data section as a Section holding the bytes.
    expect(got[300]!.body.typecode).toBe(0x75);
    expect(Buffer.compare(got[300]!.body.content as Buffer, big)).toBe(0);
    expect(got[300]!.message_annotations).toEqual({ 'x-opt-note': 'before' });
    expect(got[300]!.footer).toEqual({ 'x-check': 'after' });
    expect(got[301]!.application_properties).toEqual({ s: 'text', i: -7, u: 5, sym: 'x' });
    expect(got[301]!.body).toBe('after the big one');
  });

  it("rhea's accept, reject, release and modify reach Quark's send() as resolve and the matching typed errors", async () => {
    const peer = await rheaListener({ maxFrameSize: 4096 });
    const c = await quark(peer.port);
    const sender = await c.createSender('outcomes');
    const messages = outcomeMessages(40);
    const results = await Promise.all(
      messages.map((m) =>
        sender.send(m).then(
          (state) => state?.kind ?? 'settled',
          (e: unknown) => e,
        ),
      ),
    );
    results.forEach((r, i) => {
      const outcome = messages[i]!.subject;
      if (outcome === 'accept') expect(r, `message ${i}`).toBe('accepted');
      else if (outcome === 'reject') {
        expect(r, `message ${i}`).toBeInstanceOf(DeliveryRejectedError);
        expect((r as DeliveryRejectedError).condition).toBe('amqp:precondition-failed');
        expect((r as DeliveryRejectedError).description).toBe('rhea says no');
      } else if (outcome === 'release') expect(r, `message ${i}`).toBeInstanceOf(DeliveryReleasedError);
      else {
        expect(r, `message ${i}`).toBeInstanceOf(DeliveryModifiedError);
        expect((r as DeliveryModifiedError).outcome).toMatchObject({
          kind: 'modified',
          deliveryFailed: true,
          undeliverableHere: true,
        });
      }
    });
    expect(peer.received.get('outcomes')?.map((m) => m.body)).toEqual(messages.map((m) => m.body));
  });

  it("Quark receives what rhea sends, one bigger than Quark's max frame included, and rhea sees each of Quark's outcomes", async () => {
    const big = pattern(50_000);
    const subjects = outcomeMessages(20);
    const peer = await rheaListener({
      maxFrameSize: 65536,
      toSend: () => [
        ...subjects.map((m) => ({ subject: m.subject, message_id: `m${m.body}`, body: m.body })),
        { subject: 'accept', message_id: 'big', body: rhea.message.data_section(big) },
        {
          subject: 'accept',
          message_id: 'typed',
          application_properties: {
            u: rhea.types.wrap_ulong(5),
            ui: rhea.types.wrap_uint(7),
            ub: rhea.types.wrap_ubyte(9),
            l: rhea.types.wrap_long(-3),
            sym: rhea.types.wrap_symbol('sym'),
            id: rhea.types.wrap_uuid(Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex')),
          },
          body: 'typed',
        },
      ],
    });
    const c = await quark(peer.port, 4096);
    const receiver = await c.createReceiver({ source: 'outbox', credit: 5 });
    const got: Delivery[] = [];
    // Take everything, then settle all at once: Quark writes mixed outcomes in one turn.
    while (got.length < subjects.length + 2) got.push(await receiver.receive({ timeout: 10_000 }));
    for (const d of got) settleQuark(d);
    expect(got.map((d) => d.message.messageId)).toEqual([...subjects.map((m) => `m${m.body}`), 'big', 'typed']);
    // rhea sends a non-negative JavaScript number as a uint: Quark keeps that type.
    expect(got.slice(0, subjects.length).map((d) => Number(d.message.body))).toEqual(subjects.map((m) => m.body));
    const bigMessage = got[subjects.length]!.message;
    expect(bigMessage.bodyType).toBe('data');
    expect(Buffer.compare(Buffer.from(bigMessage.body as Uint8Array), big)).toBe(0);
    const typed = got[subjects.length + 1]!.message;
    expect(typedTree(typed.applicationProperties as AmqpValue)).toEqual(
      typedTree({
        u: ulong(5),
        ui: uint(7),
        ub: ubyte(9),
        l: long(-3n),
        sym: symbol('sym'),
        id: uuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
      }),
    );
    // rhea reports each outcome on its sender.
    await waitFor('rhea to see every outcome', () => peer.outcomes.size === subjects.length + 2);
    expect(Object.fromEntries(peer.outcomes)).toEqual(
      Object.fromEntries([
        ...subjects.map((m) => [`m${m.body}`, RHEA_EVENT[m.subject]]),
        ['big', 'accepted'],
        ['typed', 'accepted'],
      ]),
    );
  });
});

describe("a rhea client against Quark's listen()", () => {
  async function rheaClient(port: number): Promise<RheaConnection> {
    const container = rhea.create_container({ id: 'rhea-client' });
    // A user name without a password: rhea's SASL ANONYMOUS (Quark's listener requires SASL).
    const conn = container.connect({
      host: '127.0.0.1',
      port,
      username: 'anonymous',
      reconnect: false,
      tcp_no_delay: true,
      treat_modified_as_released: false,
    } as Parameters<typeof container.connect>[0]);
    rheaConnections.add(conn);
    await once(conn, 'connection_open');
    return conn;
  }

  it("rhea sends to Quark's listener: messages arrive in order, a multi-frame one whole, and rhea sees Quark's accept, reject, release and modify", async () => {
    listener = await listen({ maxFrameSize: 4096 });
    const l = listener;
    const received: Delivery[] = [];
    void (async () => {
      for await (const link of l) {
        const receiver = link.acceptAsReceiver({ credit: 10 });
        for await (const d of receiver) {
          received.push(d);
          settleQuark(d);
        }
      }
    })();
    const conn = await rheaClient(listener.port);
    const sender = conn.open_sender({ target: { address: 'inbox' } });
    await once(sender, 'sendable');
    const big = pattern(200_000);
    const messages = outcomeMessages(40);
    const seen: { subject: string; event: string; condition?: string }[] = [];
    for (const outcome of OUTCOMES) {
      sender.on(RHEA_EVENT[outcome], (ctx: EventContext) => {
        const subject = (ctx.delivery as RheaDelivery & { subject?: string }).subject ?? '?';
        const error = (ctx.delivery?.remote_state as { error?: { condition?: string } } | undefined)?.error;
        seen.push({ subject, event: RHEA_EVENT[outcome], ...(error?.condition ? { condition: error.condition } : {}) });
      });
    }
    const all = [...messages, { subject: 'accept' as Outcome, body: -1 }];
    for (const m of all) {
      const delivery = sender.send(
        m.body === -1 ? { subject: m.subject, body: rhea.message.data_section(big) } : m,
      ) as RheaDelivery & { subject?: string };
      delivery.subject = m.subject;
    }
    await waitFor('rhea to see every outcome', () => seen.length >= all.length);
    expect(received.map((d) => d.message.subject)).toEqual(all.map((m) => m.subject));
    expect(received.slice(0, messages.length).map((d) => Number(d.message.body))).toEqual(messages.map((m) => m.body));
    expect(Buffer.compare(Buffer.from(received[messages.length]!.message.body as Uint8Array), big)).toBe(0);
    expect(seen.map((s) => s.event)).toEqual(all.map((m) => RHEA_EVENT[m.subject]));
    expect(seen.filter((s) => s.event === 'rejected').every((s) => s.condition === 'amqp:precondition-failed')).toBe(
      true,
    );
  });

  it("rhea receives from Quark's listener: every send resolves when rhea accepts, in order, values intact", async () => {
    listener = await listen();
    const l = listener;
    const N = 1000;
    const sends = (async () => {
      for await (const link of l) {
        const sender = link.acceptAsSender();
        return Promise.all(
          Array.from({ length: N }, (_, i) =>
            sender.send({
              messageId: i,
              applicationProperties: { i, tag: symbol('t') },
              body: { n: i, text: `message ${i}` },
            }),
          ),
        );
      }
      return [];
    })();
    const conn = await rheaClient(listener.port);
    const bodies: unknown[] = [];
    const props: unknown[] = [];
    const receiver = conn.open_receiver({ source: { address: 'outbox' }, credit_window: 20 });
    receiver.on('message', (ctx: EventContext) => {
      bodies.push(ctx.message!.body);
      props.push(ctx.message!.application_properties);
    });
    const outcomes = await sends;
    expect(outcomes.filter((o) => o?.kind === 'accepted')).toHaveLength(N);
    expect(bodies).toEqual(Array.from({ length: N }, (_, i) => ({ n: i, text: `message ${i}` })));
    expect(props[N - 1]).toEqual({ i: N - 1, tag: 't' });
  });
});
