/**
 * The listening side under a wire fuzzer: seeded, mutated client conversations (SASL ANONYMOUS,
 * PLAIN, SCRAM-SHA-256 or none; open; one or many sessions; senders with transfers and receivers
 * with credit, to queues, topics and made-up addresses) written to the embedded broker over real
 * sockets (tests/support/listener-fuzz.ts). The broker must survive every one, close or establish
 * each (no hang), forget every connection, keep its memory bounded, and go on serving a
 * well-behaved client. Bounded for `npm test` (QUARK_FUZZ_CASES, default 8,000, about 10 s); a
 * long run, with the broker in a process of its own and figures:
 * `node scripts/fuzz-listener.mjs --cases 1000000`.
 *
 * tests/fuzz/corpus/listener/*.hex holds every input that once found a bug; each is replayed too
 * (tests/fuzz/corpus/README.md says how to add one).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { connect, startBroker, type Broker } from '../../src/index.js';
import { corpusOf } from '../support/fuzz-corpus.js';
import { FUZZ_BROKER_OPTIONS, play, runCases } from '../support/listener-fuzz.js';
import { SeededRandom, fuzzSeed } from '../support/seeded-random.js';

const CASES = Number(process.env.QUARK_FUZZ_CASES ?? 8000);

/** The heap in use after a full collection: what is kept, not what is waiting to be collected. */
function retainedHeap(): number {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
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
  it(`survives ${CASES} mutated client conversations: no crash, no hang, every connection forgotten, memory bounded, still serving`, async () => {
    const broker = await startBroker({ ...FUZZ_BROKER_OPTIONS, port: 0 });
    try {
      const random = new SeededRandom(fuzzSeed(20261206));
      const heap = retainedHeap;
      const before = heap();
      const rss = process.memoryUsage().rss;
      const t0 = performance.now();
      const totals = await runCases(broker.port, random, CASES);
      const seconds = (performance.now() - t0) / 1000;
      expect(
        totals.hanging.map(
          (h) => `case ${h.index} (${h.auth}/${h.shape}, seed ${random.seed}): ${h.bytes.toString('hex')}`,
        ),
      ).toEqual([]);
      expect(totals.refused).toBe(0);
      expect(await untilForgotten(broker)).toBe(0);
      console.log(
        `listener fuzz: ${CASES} cases (seed ${random.seed}) in ${seconds.toFixed(1)} s (${Math.round(CASES / seconds)}/s), no crash, no hang ` +
          `(established ${totals.established}, closed ${totals.closed}, ${totals.late} of them late); heap ${(before / 1e6).toFixed(1)} -> ${(heap() / 1e6).toFixed(1)} MB, RSS ${(rss / 1e6).toFixed(0)} -> ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
      );
      await expectStillServing(broker);
      // Queues hold at most what their credit let in (here a few MB, in thousands of queues made
      // up by the cases); nothing else may pile up.
      expect(heap() - before).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await broker.close();
    }
  }, 600_000);

  it('replays every input of the corpus (inputs that once found a bug): the broker survives each, hangs on none, and goes on serving', async () => {
    const corpus = corpusOf('listener');
    const broker = await startBroker({ ...FUZZ_BROKER_OPTIONS, port: 0 });
    try {
      const results = await Promise.all(
        corpus.map(async ({ name, bytes }) => `${name}: ${(await play(broker.port, bytes)).verdict}`),
      );
      expect(results.filter((r) => r.endsWith(': hang') || r.endsWith(': refused'))).toEqual([]);
      expect(await untilForgotten(broker)).toBe(0);
      await expectStillServing(broker);
    } finally {
      await broker.close();
    }
  });
});
