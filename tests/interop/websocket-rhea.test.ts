/**
 * AMQP over WebSocket against rhea (an independent JavaScript AMQP 1.0 implementation): rhea's
 * WebSocket client (`websocket_connect`, here over the `ws` package as a Node application would
 * use it) against Quark's broker, and Quark's client against a rhea server that accepts
 * WebSockets (`websocket_accept`). Both directions send and receive, with settlement.
 *
 * rhea writes transfers sent from the first 'sendable' of a link it opened in answer to the
 * peer's attach before its own attach (PEERS.md): its server side sends one turn later.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import rhea, {
  type Connection as RheaConnection,
  type EventContext,
  type Message as RheaMessage,
  type Sender as RheaSender,
} from 'rhea';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';
import { selfSignedLocalhost } from '../support/self-signed-certificate.js';

let cert: Buffer;
let key: Buffer;
beforeAll(() => {
  ({ cert, key } = selfSignedLocalhost());
});

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("rhea's WebSocket client against Quark's broker", () => {
  async function rheaOverWebSocket(url: string, options: { ca?: Buffer }): Promise<RheaConnection> {
    const container = rhea.create_container({ id: 'rhea-ws-client' });
    const details = container.websocket_connect(WebSocket)(url, ['amqp'], options);
    // A user name without a password: rhea's SASL ANONYMOUS.
    const connection = container.connect({
      connection_details: details,
      username: 'anonymous',
      reconnect: false,
    } as unknown as Parameters<typeof container.connect>[0]);
    cleanups.push(async () => {
      if (connection.is_closed()) return;
      const closed = Promise.race([once(connection, 'connection_close'), once(connection, 'disconnected')]);
      connection.close();
      await closed;
    });
    await once(connection, 'connection_open');
    return connection;
  }

  for (const secure of [false, true] as const) {
    it(`rhea sends over ${secure ? 'wss' : 'ws'} and gets each message accepted; it receives what Quark sent and its accepts settle Quark's sends`, async () => {
      const broker: Broker = await startBroker({
        port: 0,
        websocket: { path: '/amqp' },
        tls: secure ? { cert, key } : undefined,
      });
      cleanups.push(() => broker.stop());
      expect(broker.websocketUrl!.startsWith(secure ? 'wss://' : 'ws://')).toBe(true);
      const connection = await rheaOverWebSocket(
        broker.websocketUrl!.replace('127.0.0.1', 'localhost'),
        secure ? { ca: cert } : {},
      );

      // rhea -> broker -> Quark
      const sender = connection.open_sender({ target: { address: 'from-rhea' } });
      await once(sender, 'sendable');
      const accepted: number[] = [];
      sender.on('accepted', (ctx: EventContext) =>
        accepted.push(Number((ctx.delivery as unknown as { tag: Buffer }).tag.toString())),
      );
      for (let i = 0; i < 30; i++) sender.send({ body: `rhea ${i}` }, String(i));
      sender.send({ body: rhea.message.data_section(Buffer.alloc(300_000, 7)) }, '30');
      await waitFor('rhea to see 31 accepts', () => accepted.length === 31);
      const quark: Connection = await connect({
        url: broker.url.replace('127.0.0.1', 'localhost'),
        tls: secure ? { ca: cert } : undefined,
      });
      cleanups.push(() => quark.close());
      const receiver = await quark.createReceiver('from-rhea');
      const bodies: unknown[] = [];
      for (let i = 0; i < 31; i++) {
        const delivery = await receiver.receive({ timeout: 5000 });
        bodies.push(delivery.message.body);
        delivery.accept();
      }
      expect(bodies.slice(0, 30)).toEqual(Array.from({ length: 30 }, (_, i) => `rhea ${i}`));
      expect(Buffer.from(bodies[30] as Uint8Array).equals(Buffer.alloc(300_000, 7))).toBe(true);

      // Quark -> broker -> rhea: a send resolves once rhea's accept has settled it at the broker.
      const quarkSender = await quark.createSender('to-rhea');
      await Promise.all(Array.from({ length: 20 }, (_, i) => quarkSender.send({ body: `quark ${i}` })));
      const got: unknown[] = [];
      const rheaReceiver = connection.open_receiver({ source: { address: 'to-rhea' }, autoaccept: true });
      rheaReceiver.on('message', (ctx: EventContext) => got.push(ctx.message!.body));
      await waitFor('rhea to receive 20 messages', () => got.length === 20);
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `quark ${i}`));
      await waitFor(
        "the broker to see rhea's accepts",
        () =>
          broker.queues().find((q) => q.address === 'to-rhea')?.inFlight === 0 &&
          broker.queues().find((q) => q.address === 'to-rhea')?.depth === 0,
      );
    });
  }
});

describe("Quark's client against a rhea server accepting WebSockets", () => {
  async function rheaWebSocketServer(toSend: RheaMessage[]): Promise<{ url: string; received: RheaMessage[] }> {
    const container = rhea.create_container({ id: 'rhea-ws-server' });
    const received: RheaMessage[] = [];
    container.on('receiver_open', (ctx: EventContext) =>
      ctx.receiver!.set_target(
        (ctx.receiver as unknown as { remote: { attach: { target: unknown } } }).remote.attach.target as never,
      ),
    );
    container.on('sender_open', (ctx: EventContext) =>
      ctx.sender!.set_source(
        (ctx.sender as unknown as { remote: { attach: { source: unknown } } }).remote.attach.source as never,
      ),
    );
    container.on('message', (ctx: EventContext) => received.push(ctx.message!));
    container.on('sendable', (ctx: EventContext) => {
      const sender = ctx.sender! as RheaSender;
      setImmediate(() => {
        while (toSend.length > 0 && sender.sendable()) sender.send(toSend.shift()!);
      });
    });
    // The WebSocket server of a rhea application: it picks the amqp subprotocol and hands each socket to rhea.
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handleProtocols: (protocols) => (protocols.has('amqp') ? 'amqp' : false),
    });
    await once(wss, 'listening');
    const sockets = new Set<WebSocket>();
    wss.on('connection', (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      container.websocket_accept(ws as unknown as Parameters<typeof container.websocket_accept>[0], {}); // rhea's typings name a net.Socket; it takes a WebSocket
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const ws of sockets) ws.terminate();
          wss.close(() => resolve());
        }),
    );
    return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, received };
  }

  it("Quark sends to rhea over ws (sends resolve on rhea's accept) and receives from rhea, settling each", async () => {
    const toSend: RheaMessage[] = Array.from({ length: 25 }, (_, i) => ({ body: `from rhea ${i}` }));
    const peer = await rheaWebSocketServer(toSend);
    const connection = await connect({ url: peer.url, reconnect: false });
    cleanups.push(() => connection.close());
    expect(connection.remoteContainerId).toBe('rhea-ws-server');
    const sender = await connection.createSender('inbox');
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, (_, i) => sender.send({ body: `to rhea ${i}`, applicationProperties: { i } })),
    );
    expect(outcomes.every((o) => o?.kind === 'accepted')).toBe(true);
    expect(peer.received.map((m) => m.body)).toEqual(Array.from({ length: 25 }, (_, i) => `to rhea ${i}`));
    const receiver = await connection.createReceiver('outbox');
    const bodies: unknown[] = [];
    for (let i = 0; i < 25; i++) {
      const delivery = await receiver.receive({ timeout: 5000 });
      bodies.push(delivery.message.body);
      delivery.accept();
    }
    expect(bodies).toEqual(Array.from({ length: 25 }, (_, i) => `from rhea ${i}`));
  });
});
