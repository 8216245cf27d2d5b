/**
 * A receiver's acknowledgements over a real socket: a pipelined stream that arrives a message at
 * a time is acknowledged in few disposition frames; a sender waiting for each outcome (rhea, an
 * independent implementation, in a process of its own) is answered at once.
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, listen, type Connection } from '../../src/index.js';
import { killPrograms, startProgram } from '../support/programs.js';
import { SocketTransport } from '../../src/transport/socket-transport.js';
import { AcknowledgementBatching } from '../../src/transport/acknowledgement-batching.js';

/** The lengths (ms) `holdDelay` gave the holds that paused reading. */
function pausedHoldLengths(holds: { mock: { calls: unknown[][]; results: { value: unknown }[] } }): number[] {
  return holds.mock.calls.flatMap((args, i) => (args[0] === true ? [holds.mock.results[i]!.value as number] : []));
}

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

interface Counting {
  port: number;
  /** Disposition frames the receiver (Quark) side wrote. */
  dispositions: () => number;
  close: () => Promise<void>;
}

/** Counts the disposition frames in an AMQP byte stream (protocol headers and SASL frames skipped). */
class DispositionCounter {
  count = 0;
  #pending = Buffer.alloc(0);
  push(chunk: Buffer): void {
    let buf = Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (buf.length >= 8 && buf.toString('latin1', 0, 4) === 'AMQP') {
        buf = buf.subarray(8); // a protocol header (SASL's, then AMQP's)
        continue;
      }
      if (buf.length < 8 || buf.length < buf.readUInt32BE(0)) break;
      const size = buf.readUInt32BE(0);
      const body = 4 * buf[4]!;
      // An AMQP frame (type 0) whose performative is a described list with descriptor 0x53 0x15: a disposition.
      if (buf[5] === 0 && size > body + 2 && buf[body] === 0x00 && buf[body + 1] === 0x53 && buf[body + 2] === 0x15)
        this.count++;
      buf = buf.subarray(size);
    }
    this.#pending = Buffer.from(buf);
  }
}

/** A loopback proxy in front of `targetPort` that counts the dispositions the connecting side writes. */
async function countingProxy(targetPort: number): Promise<Counting> {
  const counter = new DispositionCounter();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect(targetPort, '127.0.0.1');
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      counter.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    dispositions: () => counter.count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The rhea sender of tests/support/rhea-sender.mjs, in a process of its own. */
async function rheaSender(count: number, window = 1): Promise<{ port: number; roundTrips: () => Promise<number[]> }> {
  const program = startProgram(
    process.execPath,
    [join(here, '..', 'support', 'rhea-sender.mjs'), String(count), String(window)],
    root,
    30_000,
  );
  const port = Number((await program.waitFor(/port (\d+)/))[1]);
  return {
    port,
    roundTrips: async () =>
      (JSON.parse((await program.waitFor(/done (.*)/))[1]!) as { roundTrips: number[] }).roundTrips,
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  killPrograms();
});

async function receiveAll(port: number, count: number, sasl: boolean): Promise<Connection> {
  const conn = await connect({
    url: `amqp://127.0.0.1:${port}`,
    reconnect: false,
    ...(sasl ? {} : { sasl: false as const }),
  });
  cleanups.push(() => conn.close());
  const receiver = await conn.createReceiver({ source: 'q', credit: 1000 });
  let n = 0;
  for await (const delivery of receiver) {
    expect((delivery.message.body as Buffer)[0]).toBe(n & 0xff);
    delivery.accept();
    if (++n === count) break;
  }
  return conn;
}

describe('acknowledgements of a receiver', () => {
  it(
    'a steady pipelined stream, a message per socket write and per turn, is acknowledged in far fewer disposition frames than messages',
    { timeout: 20_000 },
    async () => {
      // The sender: a listen() peer in this process that sends one message per turn of the event
      // loop without waiting for outcomes (so one per socket write); the receiver reads them as
      // they come, one per turn. Unbatched, that is a disposition per message.
      const count = 2000;
      const listener = await listen({ port: 0 });
      cleanups.push(() => listener.close());
      const outcomes: Promise<unknown>[] = [];
      void (async () => {
        for await (const link of listener) {
          if (link.role !== 'sender') continue;
          const sender = link.acceptAsSender();
          for (let i = 0; i < count; i++) {
            outcomes.push(sender.send({ body: Buffer.alloc(100, i & 0xff) }));
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      })();
      const proxy = await countingProxy(Number(new URL(listener.url).port));
      cleanups.push(proxy.close);
      // The receiver's socket stops reading while acknowledgements are held for this streaming
      // sender (a read answered false), so its next messages are read together; it always
      // resumes: every message arrives.
      const reads = vi.spyOn(SocketTransport.prototype, 'ingestRead');
      cleanups.push(async () => reads.mockRestore());
      const holds = vi.spyOn(AcknowledgementBatching.prototype, 'holdDelay');
      cleanups.push(async () => holds.mockRestore());
      await receiveAll(proxy.port, count, true);
      // While reading pauses, this sender (which never waits for outcomes) is held 3 ms.
      const pausedHolds = pausedHoldLengths(holds);
      expect(pausedHolds.length).toBeGreaterThan(0);
      expect(pausedHolds.filter((ms) => ms === 3).length).toBeGreaterThan(0.8 * pausedHolds.length);
      const receiverReads = reads.mock.contexts
        .map((transport, i) => ({
          transport: transport as SocketTransport,
          paused: reads.mock.results[i]!.value === false,
        }))
        .filter(({ transport }) => transport.socket?.remotePort === proxy.port);
      expect(receiverReads.filter((read) => read.paused).length).toBeGreaterThan(0);
      // Read as they come, that is a read per message or two (1,004 here, with pausing turned off).
      expect(receiverReads.length).toBeLessThan(0.4 * count);
      const results = await Promise.all(outcomes);
      expect(results.every((r) => (r as { kind: string }).kind === 'accepted')).toBe(true);
      // Unbatched: one per turn, so count / 2 here (each turn of the loop brings one message from
      // the sender, and the receiver's reads take one or two). Batched: about one per millisecond.
      expect(proxy.dispositions()).toBeLessThan(0.4 * count);
    },
  );

  it(
    'a rhea sender (in a process of its own) that waits for each outcome gets each acknowledgement at once, not after the batching delay',
    { timeout: 20_000 },
    async () => {
      const count = 300;
      const peer = await rheaSender(count);
      const proxy = await countingProxy(peer.port);
      cleanups.push(proxy.close);
      await receiveAll(proxy.port, count, false);
      const roundTrips = await peer.roundTrips();
      expect(roundTrips).toHaveLength(count);
      // Held, each would take at least the 1 ms delay.
      const sorted = [...roundTrips].sort((a, b) => a - b);
      expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(0.9);
      expect(proxy.dispositions()).toBeGreaterThanOrEqual(count);
    },
  );

  it(
    'a rhea sender (in a process of its own) that keeps 60 messages unsettled and waits for their outcomes is seen to: a few long holds, then short ones, then no pausing at all',
    { timeout: 30_000 },
    async () => {
      const count = 6000;
      const peer = await rheaSender(count, 60);
      const holds = vi.spyOn(AcknowledgementBatching.prototype, 'holdDelay');
      cleanups.push(async () => holds.mockRestore());
      await receiveAll(peer.port, count, false);
      // 100 windows of 60. Held 3 ms while reading pauses, each would keep the sender waiting for
      // most of the hold: a few such holds show what it is; a few 1 ms holds show that it runs dry
      // even then; after that its answers go out when half its window waits, without pausing.
      const pausedHolds = pausedHoldLengths(holds);
      expect(pausedHolds.length).toBeGreaterThan(3);
      expect(pausedHolds.filter((ms) => ms === 3).length).toBeLessThanOrEqual(20); // 179 unseen
      expect(pausedHolds.length).toBeLessThan(60);
    },
  );
});
