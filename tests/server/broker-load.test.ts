/**
 * The embedded broker under load: 100,000 messages from 4 producers to 4 competing consumers over
 * loopback TCP, at-least-once. Nothing is lost or duplicated (every id is checked), each consumer
 * sees each producer's messages in order, the queue never holds more than its limit (the broker's
 * memory is bounded by end-to-end flow control, not by how fast producers are), the heap does not
 * keep what went through, and nothing is left running once the broker stops.
 *
 * The consumers start only once the producers have filled the queue to its limit, so the limit is
 * really what holds the producers back for part of the run.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { connect, startBroker, type Connection, type Delivery } from '../../src/index.js';

const TOTAL = 100_000;
const PRODUCERS = 4;
const CONSUMERS = 4;
const LIMIT = 1000;
const PAYLOAD = 'p'.repeat(200);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after a full collection. */
function settledHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Active handles and requests by type (timers of the test runner included). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

const MB = 1024 * 1024;

describe('embedded broker under load', () => {
  it(`carries ${TOTAL.toLocaleString('en')} messages from ${PRODUCERS} producers to ${CONSUMERS} consumers: none lost or duplicated, queue within its limit, heap bounded, nothing left running`, async () => {
    const resourcesBefore = resources();
    const heapBefore = settledHeap();
    const broker = await startBroker({ port: 0, queueLimit: LIMIT });
    const connections: Connection[] = [];
    const started = performance.now();

    // Watch the queue and the heap all along.
    let maxDepth = 0;
    let maxHeld = 0;
    let maxHeap = 0;
    let samples = 0;
    const sample = () => {
      const q = broker.queues().find((s) => s.address === 'load');
      if (q) {
        maxDepth = Math.max(maxDepth, q.depth);
        maxHeld = Math.max(maxHeld, q.depth + q.inFlight);
      }
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
      samples++;
    };
    const sampler = setInterval(sample, 5);

    // Producers: each sends its share (ids p, p + PRODUCERS, ...), reading the next message only when the link can take it.
    const producing = Array.from({ length: PRODUCERS }, async (_, p) => {
      const c = await connect(broker.url);
      connections.push(c);
      const sender = await c.createSender('load');
      function* messages() {
        for (let id = p; id < TOTAL; id += PRODUCERS)
          yield { messageId: id, applicationProperties: { producer: p }, body: PAYLOAD };
      }
      return sender.sendAll(messages(), { maxInFlight: 500 });
    });

    // Until a consumer comes, the broker stores up to LIMIT messages and then stops granting credit.
    await expect
      .poll(() => broker.queues().find((s) => s.address === 'load')?.depth ?? 0, { timeout: 20_000, interval: 10 })
      .toBe(LIMIT);
    await new Promise((r) => setTimeout(r, 100));
    sample();
    expect(maxDepth).toBe(LIMIT);

    const seen = new Uint8Array(TOTAL);
    const lastFromProducer = Array.from({ length: CONSUMERS }, () => new Array<number>(PRODUCERS).fill(-1));
    const outOfOrder: string[] = [];
    const perConsumer = new Array<number>(CONSUMERS).fill(0);
    let received = 0;
    let finish!: () => void;
    const allReceived = new Promise<void>((resolve) => (finish = resolve));
    for (let k = 0; k < CONSUMERS; k++) {
      const c = await connect(broker.url);
      connections.push(c);
      const receiver = await c.createReceiver({ source: 'load', credit: 200 });
      receiver.deliveries$().subscribe((d: Delivery) => {
        const m = d.message;
        const id = Number(m.messageId);
        const p = m.applicationProperties?.producer as number;
        if (id <= lastFromProducer[k]![p]! && outOfOrder.length < 5)
          outOfOrder.push(`consumer ${k} got ${id} after ${lastFromProducer[k]![p]!}`);
        lastFromProducer[k]![p] = id;
        if (m.body !== PAYLOAD && outOfOrder.length < 5) outOfOrder.push(`message ${id} has a damaged body`);
        seen[id]!++;
        perConsumer[k]!++;
        d.accept();
        if (++received === TOTAL) finish();
      });
    }

    const sent = await Promise.all(producing);
    await allReceived;
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    sample();

    expect(sent).toEqual(new Array(PRODUCERS).fill(TOTAL / PRODUCERS));
    let missing = 0;
    let duplicated = 0;
    for (const n of seen) {
      if (n === 0) missing++;
      else if (n > 1) duplicated++;
    }
    expect({ missing, duplicated, outOfOrder }).toEqual({ missing: 0, duplicated: 0, outOfOrder: [] });
    for (const n of perConsumer) expect(n).toBeGreaterThan(TOTAL / CONSUMERS / 4);
    // The queue (stored plus delivered-unsettled messages) never went past its limit.
    expect(samples).toBeGreaterThan(100);
    expect(maxDepth).toBeLessThanOrEqual(LIMIT);
    expect(maxHeld).toBeLessThanOrEqual(LIMIT);
    await expect.poll(() => broker.queues().find((s) => s.address === 'load')).toMatchObject({ depth: 0, inFlight: 0 });

    // Memory: the heap at its highest stayed moderate, and what went through is not kept.
    const heapAfter = settledHeap();
    console.log(
      `broker load: ${TOTAL} messages in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds)} msg/s through the broker), ` +
        `max queue depth ${maxDepth}, max held ${maxHeld}, heap ${(heapBefore / MB).toFixed(0)} MB -> max ${(maxHeap / MB).toFixed(0)} MB -> ${(heapAfter / MB).toFixed(0)} MB after`,
    );
    expect(maxHeap - heapBefore).toBeLessThan(150 * MB);
    expect(heapAfter - heapBefore).toBeLessThan(15 * MB);

    // Stopping the broker closes every connection; then no socket, server or timer of ours is left.
    await broker.close();
    for (const c of connections) expect(c.isOpen).toBe(false);
    await Promise.all(connections.map((c) => c.close()));
    await new Promise((r) => setTimeout(r, 50));
    const after = resources();
    expect(Object.keys(after).filter((k) => k.startsWith('TCP'))).toEqual([]);
    // Nothing of any kind beyond what the test runner had before (its own timers may have ended since).
    const extra = Object.entries(after).filter(([k, n]) => n > (resourcesBefore[k] ?? 0));
    expect(extra).toEqual([]);
  });
});
