/**
 * The AMQP WebSocket Binding makes the byte stream the concatenation of binary messages: frames
 * may be split across messages or packed into one. Relays built on the raw `ws` package re-cut
 * the stream between a Quark peer and the broker, one direction at a time, and the peers must
 * not notice.
 */
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker, type Connection } from '../../src/index.js';

type Cut = 'split' | 'pack';

/** Counts the protocol headers and frames that a run of bytes completes. */
class FrameCounter {
  #pending = Buffer.alloc(0);

  /** How many headers and frames end within `chunk`. */
  push(chunk: Buffer): number {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    let completed = 0;
    while (this.#pending.length >= 8) {
      const size = this.#pending.subarray(0, 4).toString('latin1') === 'AMQP' ? 8 : this.#pending.readUInt32BE(0);
      if (this.#pending.length < size) break;
      this.#pending = this.#pending.subarray(size);
      completed++;
    }
    return completed;
  }
}

/** Sends bytes over a WebSocket cut as asked: 3 bytes a message, or everything of 15 ms in one. */
class Cutter {
  readonly counter = new FrameCounter();
  /** The most headers and frames one message completed. */
  mostPerMessage = 0;
  messages = 0;
  #held: Buffer[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly cut: Cut,
  ) {}

  write(bytes: Buffer): void {
    if (this.cut === 'split') {
      for (let i = 0; i < bytes.length; i += 3) this.#send(bytes.subarray(i, i + 3));
      return;
    }
    this.#held.push(bytes);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#send(Buffer.concat(this.#held.splice(0)));
    }, 15);
  }

  #send(message: Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.messages++;
    this.mostPerMessage = Math.max(this.mostPerMessage, this.counter.push(message));
    this.ws.send(message, { binary: true });
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A WebSocket server that relays to the broker's TCP port, cutting what goes to the client. */
async function cuttingServer(broker: Broker, cut: Cut): Promise<{ url: string; cutters: Cutter[] }> {
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    handleProtocols: (p) => (p.has('amqp') ? 'amqp' : false),
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  const cutters: Cutter[] = [];
  wss.on('connection', (ws) => {
    const cutter = new Cutter(ws, cut);
    cutters.push(cutter);
    const tcp = net.connect(broker.port, '127.0.0.1');
    tcp.on('data', (bytes) => cutter.write(bytes));
    ws.on('message', (bytes) => tcp.write(bytes as Buffer));
    const end = (): void => {
      cutter.stop();
      tcp.destroy();
      ws.terminate();
    };
    tcp.on('close', end);
    ws.on('close', end);
    tcp.on('error', end);
  });
  cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
  return { url: `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`, cutters };
}

/** A TCP server that relays to the broker's WebSocket port, cutting what goes to the broker. */
async function cuttingClient(broker: Broker, cut: Cut): Promise<{ url: string; cutters: Cutter[] }> {
  const cutters: Cutter[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((tcp) => {
    sockets.add(tcp);
    const ws = new WebSocket(broker.websocketUrl!, ['amqp']);
    const cutter = new Cutter(ws, cut);
    cutters.push(cutter);
    const early: Buffer[] = [];
    tcp.on('data', (bytes) => (ws.readyState === WebSocket.OPEN ? cutter.write(bytes) : early.push(bytes)));
    ws.on('open', () => early.splice(0).forEach((b) => cutter.write(b)));
    ws.on('message', (bytes) => tcp.write(bytes as Buffer));
    const end = (): void => {
      cutter.stop();
      tcp.destroy();
      ws.terminate();
      sockets.delete(tcp);
    };
    tcp.on('close', end);
    tcp.on('error', end);
    ws.on('close', end);
    ws.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `amqp://127.0.0.1:${(server.address() as net.AddressInfo).port}`, cutters };
}

/** SCRAM, then small messages and one of several frames, each way, each settled. */
async function exchange(connection: Connection): Promise<void> {
  const big = 'x'.repeat(300_000);
  const sender = await connection.createSender('cut');
  const receiver = await connection.createReceiver('cut');
  const sent = await Promise.all(
    [...Array.from({ length: 20 }, (_, i) => `message ${i}`), big].map((body) => sender.send({ body })),
  );
  expect(sent.every((outcome) => outcome?.kind === 'accepted')).toBe(true);
  const bodies: unknown[] = [];
  for (let i = 0; i < 21; i++) {
    const delivery = await receiver.receive({ timeout: 10_000 });
    bodies.push(delivery.message.body);
    delivery.accept();
  }
  expect(bodies.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `message ${i}`));
  expect(bodies[20]).toBe(big);
}

describe('AMQP frames cut freely across WebSocket messages', () => {
  for (const cut of ['split', 'pack'] as const) {
    it(`the client reads frames ${cut === 'split' ? 'split across 3-byte messages' : 'packed several to a message'}`, async () => {
      const broker = await startBroker({ port: 0, users: { alice: 'pw' }, websocket: {} });
      cleanups.push(() => broker.stop());
      const { url, cutters } = await cuttingServer(broker, cut);
      const connection = await connect({
        url,
        username: 'alice',
        password: 'pw',
        sasl: { mechanisms: ['SCRAM-SHA-256'] },
      });
      cleanups.push(() => connection.close());
      await exchange(connection);
      if (cut === 'pack') expect(cutters[0]!.mostPerMessage).toBeGreaterThanOrEqual(3);
      else expect(cutters[0]!.messages).toBeGreaterThan(100_000); // the 300 kB message alone is 100,000 messages
    });

    it(`the listener reads frames ${cut === 'split' ? 'split across 3-byte messages' : 'packed several to a message'}`, async () => {
      const broker = await startBroker({ port: 0, users: { alice: 'pw' }, websocket: {} });
      cleanups.push(() => broker.stop());
      const { url, cutters } = await cuttingClient(broker, cut);
      const connection = await connect({
        url,
        username: 'alice',
        password: 'pw',
        sasl: { mechanisms: ['SCRAM-SHA-256'] },
      });
      cleanups.push(() => connection.close());
      await exchange(connection);
      if (cut === 'pack') expect(cutters[0]!.mostPerMessage).toBeGreaterThanOrEqual(3);
      else expect(cutters[0]!.messages).toBeGreaterThan(100_000);
    });
  }
});
