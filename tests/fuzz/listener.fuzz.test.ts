/**
 * The listening side under a wire fuzzer: seeded, mutated client conversations (SASL, open, begin,
 * attach, transfers) written to the embedded broker over real sockets. The broker must survive
 * every one, forget every connection, keep its memory bounded, and go on serving a well-behaved
 * client. Bounded for `npm test` (QUARK_FUZZ_CASES, default 8,000, about 20 s); a long run:
 * `QUARK_FUZZ_CASES=1000000 npx vitest run tests/fuzz/listener.fuzz.test.ts`.
 *
 * tests/fuzz/corpus/*.hex holds every input that once found a bug; each is replayed too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../src/codec/byte-writer.js';
import { AMQP_FRAME_TYPE, ProtocolId, SASL_FRAME_TYPE, protocolHeader, writeFrame } from '../../src/codec/frames.js';
import { encodeMessage } from '../../src/codec/message.js';
import { compositeSpecs } from '../../src/codec/spec-tables.js';
import { connect, startBroker, type Broker } from '../../src/index.js';
import { SeededRandom, fuzzSeed } from '../support/seeded-random.js';

const CASES = Number(process.env.QUARK_FUZZ_CASES ?? 8000);
const CORPUS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus');

/** A valid client conversation: SASL ANONYMOUS, open, begin, a sending link, `transfers` messages. */
function conversation(random: SeededRandom, transfers: number): Buffer {
  const w = new ByteWriter(4096);
  w.bytes(protocolHeader(ProtocolId.Sasl));
  writeFrame(w, SASL_FRAME_TYPE, 0, compositeSpecs.saslInit, { mechanism: 'ANONYMOUS' });
  w.bytes(protocolHeader(ProtocolId.Amqp));
  writeFrame(w, AMQP_FRAME_TYPE, 0, compositeSpecs.open, { containerId: `fuzz-${random.int(1e9)}` });
  writeFrame(w, AMQP_FRAME_TYPE, 0, compositeSpecs.begin, { nextOutgoingId: 0, incomingWindow: 100, outgoingWindow: 100 });
  writeFrame(w, AMQP_FRAME_TYPE, 0, compositeSpecs.attach, { name: 'l', handle: 0, role: false, target: { kind: 'target', address: `fuzz-${random.int(20)}` }, initialDeliveryCount: 0 });
  for (let i = 0; i < transfers; i++) {
    writeFrame(w, AMQP_FRAME_TYPE, 0, compositeSpecs.transfer, { handle: 0, deliveryId: i, deliveryTag: Buffer.from([i]), messageFormat: 0, settled: random.chance(0.5) }, encodeMessage({ body: random.bytes(random.int(200)) }));
  }
  return Buffer.from(w.toBuffer());
}

/** Flips, overwrites, truncates or duplicates a few bytes after the first protocol header. */
function mutate(random: SeededRandom, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const edits = 1 + random.int(4);
  for (let k = 0; k < edits; k++) {
    const at = 8 + random.int(Math.max(1, b.length - 8));
    switch (random.int(4)) {
      case 0:
        b[at] = random.int(256);
        break;
      case 1:
        b[at] = (b[at] ?? 0) ^ (1 << random.int(8));
        break;
      case 2:
        b = b.subarray(0, at);
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at - Math.min(at, 16), at), b.subarray(at)]);
    }
  }
  return b;
}

/** Writes `bytes` on a fresh socket and closes it soon after (or when the broker does). */
function play(port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('connect', () => {
      socket.write(bytes);
      setTimeout(() => socket.destroy(), 5);
    });
    socket.once('close', () => resolve());
  });
}

async function expectStillServing(broker: Broker): Promise<void> {
  const client = await connect({ url: broker.url, reconnect: false });
  const sender = await client.createSender('after-fuzz');
  await expect(sender.send({ body: 'still here' })).resolves.toEqual({ kind: 'accepted' });
  await client.close();
}

async function untilForgotten(broker: Broker): Promise<number> {
  for (let i = 0; i < 200 && broker.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return broker.connectionCount;
}

describe('the embedded broker under a wire fuzzer', () => {
  it(`survives ${CASES} mutated client conversations: no crash, every connection forgotten, memory bounded, still serving`, async () => {
    const broker = await startBroker({ port: 0, failedLoginDelay: 0 });
    try {
      const random = new SeededRandom(fuzzSeed(20261206));
      const heap = (): number => process.memoryUsage().heapUsed;
      const before = heap();
      const rss = process.memoryUsage().rss;
      const t0 = performance.now();
      for (let i = 0; i < CASES; i++) await play(broker.port, mutate(random, conversation(random, 1 + random.int(8))));
      const seconds = (performance.now() - t0) / 1000;
      expect(await untilForgotten(broker)).toBe(0);
      console.log(`listener fuzz: ${CASES} cases (seed ${random.seed}) in ${seconds.toFixed(1)} s (${Math.round(CASES / seconds)}/s), no crash; heap ${(before / 1e6).toFixed(1)} -> ${(heap() / 1e6).toFixed(1)} MB, RSS ${(rss / 1e6).toFixed(0)} -> ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
      await expectStillServing(broker);
      // Queues hold at most what their credit let in; nothing else may pile up.
      expect(heap() - before).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await broker.stop();
    }
  }, 600_000);

  it('replays every input of the corpus (inputs that once found a bug): the broker survives each and goes on serving', async () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.hex')).sort();
    expect(files.length).toBeGreaterThan(0);
    const broker = await startBroker({ port: 0, failedLoginDelay: 0 });
    try {
      for (const file of files) {
        const bytes = Buffer.from(readFileSync(path.join(CORPUS, file), 'utf8').replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');
        await play(broker.port, bytes);
      }
      expect(await untilForgotten(broker)).toBe(0);
      await expectStillServing(broker);
    } finally {
      await broker.stop();
    }
  });
});
