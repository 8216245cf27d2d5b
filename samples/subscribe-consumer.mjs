// A consumer for service code: `receiver.subscribe(handler, options)` runs the handler for each
// message, up to --concurrency at once, and takes no more messages than the handlers can run. A
// handler that resolves accepts its message; one that throws gives it back as `onError` says:
// here a failed order is retried (modified as a failed delivery, so the broker counts the
// attempt) and rejected on its third failure, which sends it to the dead-letter queue. It stops
// once every order sent is settled, or on Ctrl-C (the handlers running finish first).
//
//   node samples/subscribe-consumer.mjs [amqp://localhost:5672/orders] [--count 20] [--concurrency 4]
//
// Without a URL it starts an embedded broker in this process, with a dead-letter queue `DLQ`
// (and uses the queue `orders`). It first sends --count orders: every 7th fails once, every 10th
// always fails.
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, startBroker } from '../dist/esm/index.js';
import { parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('subscribe-consumer.mjs');

const opts = parseOptions('subscribe-consumer.mjs [URL] [--count N] [--concurrency C]', {
  count: 20,
  extra: { concurrency: { type: 'string' } },
});
const concurrency = Number(opts.values.concurrency ?? 4);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`--concurrency must be a whole number of at least 1, got ${opts.values.concurrency}`);
  process.exit(2);
}
const broker = opts.urlGiven ? undefined : await startBroker({ port: 0, deadLetterAddress: 'DLQ' });
const url = broker?.url ?? opts.url;
const address = opts.urlGiven ? opts.address : 'orders';
if (broker) console.log(`started an embedded broker at ${broker.url}, dead-letter queue DLQ`);

const MAX_ATTEMPTS = 3;
const connection = await connect(url);
try {
  try {
    const sender = await connection.createSender(address);
    for (let id = 1; id <= opts.count; id++) {
      await sender.send({ body: { id, flaky: id % 7 === 0, poison: id % 10 === 0 } });
    }
    await sender.close();
    console.log(`sent ${opts.count} orders to ${address}`);

    const stop = new AbortController();
    const interrupted = () => stop.abort('interrupted');
    process.once('SIGINT', interrupted);
    let accepted = 0;
    let rejected = 0;
    let running = 0;
    let mostRunning = 0;
    const settled = () => {
      if (accepted + rejected === opts.count) stop.abort(`all ${opts.count} orders settled`);
    };

    const receiver = await connection.createReceiver(address);
    const subscription = receiver.subscribe(
      async (delivery) => {
        const { body, deliveryCount = 0 } = delivery.message; // deliveryCount: earlier failed attempts
        const attempt = deliveryCount + 1;
        mostRunning = Math.max(mostRunning, ++running);
        try {
          await sleep(10 + (body.id % 4) * 10); // the work
          if (body.poison || (body.flaky && attempt === 1))
            throw new Error(`order ${body.id} failed (attempt ${attempt})`);
        } finally {
          running--;
        }
        console.log(`order ${body.id} processed (attempt ${attempt})`);
        accepted++; // the subscription accepts it once this returns
        settled();
      },
      {
        concurrency,
        signal: stop.signal,
        onError: (error, delivery) => {
          const attempt = (delivery.message.deliveryCount ?? 0) + 1;
          if (attempt < MAX_ATTEMPTS) {
            console.log(`${error.message}: given back to be retried`);
            delivery.modify({ deliveryFailed: true }); // the default of onError: 'modify'
          } else {
            console.log(`${error.message}: rejected`);
            delivery.reject({ condition: 'amqp:internal-error', description: error.message });
            rejected++;
            settled();
          }
        },
      },
    );
    await subscription; // resolves once stopped and the handlers running have finished
    process.off('SIGINT', interrupted);
    console.log(
      `stopped (${stop.signal.reason}): ${accepted} accepted, ${rejected} rejected; at most ${mostRunning} handlers ran at once (concurrency ${concurrency})`,
    );
  } finally {
    await connection.close();
  }
  // (After the close: the broker has had every settlement by then.)
  if (broker) console.log(`dead-letter queue DLQ holds ${broker.queue('DLQ')?.depth ?? 0} rejected orders`);
} finally {
  await broker?.close();
}
