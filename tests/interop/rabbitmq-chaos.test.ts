/**
 * Chaos against a real broker: 100,000 at-least-once durable messages through RabbitMQ 3.10 while
 * the broker is SIGKILLed and started again three times. The producer resends what is in doubt
 * (`inDoubt: 'resend'`), the consumer accepts each message; neither has any code for the
 * restarts. Nothing may be lost, every send must settle, duplicates are counted and reported, and
 * both sides must flow again after each restart. The node is this suite's own (port 5674): the
 * shared node of rabbitmq.test.ts is never killed. Without RabbitMQ the suite fails, never skips.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/index.js';
import { startAtLeastOnceRun, until } from '../support/at-least-once-run.js';
import { useRabbitMq, type RabbitMq } from '../support/rabbitmq.js';

const MESSAGES = Number(process.env.QUARK_CHAOS_MESSAGES ?? 100_000);
const RESTARTS = 3;

let rabbit: RabbitMq | undefined;
const connections: Connection[] = [];

beforeAll(async () => {
  rabbit = await useRabbitMq({ port: Number(process.env.QUARK_RABBITMQ_CHAOS_PORT ?? 5674) });
}, 180_000);

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await rabbit?.release();
}, 120_000);

describe('Quark through RabbitMQ while the broker is SIGKILLed and restarted', () => {
  it(`carries ${MESSAGES.toLocaleString('en')} durable messages at least once through ${RESTARTS} broker crashes: none lost, every send settled, both sides flowing again after each restart`, async () => {
    const r = rabbit!;
    const name = `chaos-${randomUUID()}`;
    // A durable classic queue, so that persistent messages the broker accepted survive its crash.
    await r.ctl(
      'eval',
      `rabbit_amqqueue:declare(rabbit_misc:r(<<"/">>, queue, <<"${name}">>), true, false, [], none, <<"guest">>).`,
    );
    // The declaration must be on disk before the first crash (seen lost under load otherwise).
    await r.ctl('eval', 'mnesia:dump_log().');
    const address = `/amq/queue/${name}`;
    // Reconnect settings are configuration, not code: a short backoff ceiling keeps the test quick.
    const options = {
      url: `amqp://guest:guest@127.0.0.1:${r.port}`,
      reconnect: { initialDelay: 50, maxDelay: 500 },
      idleTimeout: 10_000,
    };
    const producer = await connect(options);
    const consumer = await connect(options);
    connections.push(producer, consumer);
    const reconnects = { producer: 0, consumer: 0 };
    producer.events$.subscribe((e) => void (e.type === 'reconnected' && reconnects.producer++));
    consumer.events$.subscribe((e) => void (e.type === 'reconnected' && reconnects.consumer++));

    const run = await startAtLeastOnceRun({
      producer,
      consumer,
      address,
      total: MESSAGES,
      credit: 500,
      maxInFlight: 1000,
      maxAhead: 1000,
    });

    // The chaos: after each quarter of the messages has been received, crash the broker and start it again.
    const recoveries: { revivedMs: number; producerMs: number; consumerMs: number }[] = [];
    for (let k = 1; k <= RESTARTS; k++) {
      await until(() => run.distinct >= (MESSAGES * k) / (RESTARTS + 1) || run.failures.length > 0, 300_000);
      const killedAt = performance.now();
      await r.kill();
      await r.revive(); // resolves once an AMQP 1.0 login works: the broker is reachable again
      const reachable = performance.now();
      const before = { settled: run.settled, distinct: run.distinct };
      expect(before.distinct).toBeLessThan(MESSAGES); // the crash came mid-stream
      // Both sides flow again by themselves: a send settles and a new message arrives after the restart.
      await until(
        () =>
          ((run.settled > before.settled || run.settled === MESSAGES) && run.distinct > before.distinct) ||
          run.failures.length > 0,
        60_000,
      );
      recoveries.push({
        revivedMs: Math.round(reachable - killedAt),
        producerMs: run.settled > before.settled ? Math.round(run.lastSettledAt - reachable) : -1,
        consumerMs: run.distinct > before.distinct ? Math.round(run.lastReceivedAt - reachable) : -1,
      });
    }
    await run.done;

    console.log(
      `rabbitmq chaos: ${MESSAGES} messages, ${RESTARTS} SIGKILLs; duplicates received: ${run.duplicates}; reconnects: producer ${reconnects.producer}, consumer ${reconnects.consumer}; ` +
        `per restart, broker down-to-reachable / first settle / first new delivery, after reachable (ms; -1: none needed): ${recoveries.map((x) => `${x.revivedMs}/${x.producerMs}/${x.consumerMs}`).join(', ')}`,
    );
    expect(run.failures).toEqual([]);
    expect(run.settled).toBe(MESSAGES);
    expect(run.distinct).toBe(MESSAGES); // none lost
    expect(reconnects.producer).toBeGreaterThanOrEqual(RESTARTS);
    expect(reconnects.consumer).toBeGreaterThanOrEqual(RESTARTS);
    for (const x of recoveries) expect(x.consumerMs).toBeGreaterThanOrEqual(0); // (the producer may have finished)
  }, 600_000);
});
