/**
 * A long at-least-once stream for chaos tests: a producer sends numbered durable messages (resending
 * what is in doubt), a consumer accepts each one, and the run counts what matters while a test breaks
 * the broker underneath: distinct messages received, duplicates, settled sends, failed sends, and
 * when the last settle and the last delivery happened. Neither side has any code for the faults.
 */
import type { Connection } from '../../src/index.js';

export interface AtLeastOnceOptions {
  producer: Connection;
  consumer: Connection;
  address: string;
  /** Messages to carry; their bodies are 0 to total - 1. */
  total: number;
  /** The consumer's credit window. */
  credit: number;
  /** Sends in flight at most. */
  maxInFlight: number;
  /** How far the producer may run ahead of the consumer (so both sides are busy at every fault). */
  maxAhead: number;
  /** When set, the producer pauses 2 ms every this many messages (to make a run outlast its faults). */
  paceEvery?: number | undefined;
}

/** The live figures of a run; `done` resolves once every message is settled and received. */
export interface AtLeastOnceRun {
  readonly total: number;
  distinct: number;
  duplicates: number;
  settled: number;
  /** Sends that failed, and the error that ended the consumer or producer loop if one did. */
  readonly failures: unknown[];
  lastSettledAt: number;
  lastReceivedAt: number;
  readonly done: Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startAtLeastOnceRun(o: AtLeastOnceOptions): Promise<AtLeastOnceRun> {
  const run: Omit<AtLeastOnceRun, 'done'> = {
    total: o.total,
    distinct: 0,
    duplicates: 0,
    settled: 0,
    failures: [],
    lastSettledAt: 0,
    lastReceivedAt: 0,
  };
  const seen = new Uint8Array(o.total);
  const receiver = await o.consumer.createReceiver(o.address, { credit: o.credit });
  const consuming = (async () => {
    for await (const d of receiver) {
      const i = d.message.body as number;
      if (seen[i]) run.duplicates++;
      else run.distinct++;
      seen[i] = 1;
      run.lastReceivedAt = performance.now();
      d.accept();
      if (run.distinct === o.total) return;
    }
  })();
  const sender = await o.producer.createSender(o.address, { inDoubt: 'resend' });
  const producing = (async () => {
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < o.total; i++) {
      while (i - run.distinct > o.maxAhead) await sleep(2);
      if (o.paceEvery !== undefined && i % o.paceEvery === 0) await sleep(2);
      const p = sender.send({ durable: true, messageId: i, body: i }).then(
        () => {
          run.settled++;
          run.lastSettledAt = performance.now();
        },
        (e: unknown) => void run.failures.push(e),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= o.maxInFlight) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  })();
  // A loop that throws (its link or connection ended) is a failure the test sees at once, not a hang.
  const noteFailure = (e: unknown): never => {
    run.failures.push(e);
    throw e;
  };
  const done = Promise.all([producing.catch(noteFailure), consuming.catch(noteFailure)]).then(() => undefined);
  done.catch(() => undefined); // reported through `failures` and by awaiting `done`
  return Object.assign(run, { done });
}

/** Waits until `condition` holds (checked every 5 ms) or `timeoutMs` passes. */
export async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  while (!condition() && performance.now() - t0 < timeoutMs) await sleep(5);
}
