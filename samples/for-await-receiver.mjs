// A for-await consumer that stops cleanly: `receiver.deliveries({ signal })` is a loop that ends,
// without an error, when its AbortSignal aborts: here once every order sent is handled, after
// --timeout seconds, or on Ctrl-C. Each order is accepted once it has been handled.
//
//   node samples/for-await-receiver.mjs [amqp://localhost:5672/orders] [--count 10] [--timeout 10]
//
// Without a URL it starts an embedded broker in this process (and uses the queue `orders`). It
// first sends --count orders to the queue, so that it has something to receive.
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, startBroker } from '../dist/esm/index.js';
import { parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('for-await-receiver.mjs');

const opts = parseOptions('for-await-receiver.mjs [URL] [--count N] [--timeout SECONDS]', {
  count: 10,
  extra: { timeout: { type: 'string' } },
});
const timeout = Number(opts.values.timeout ?? 10);
if (!(timeout > 0)) {
  console.error(`--timeout must be a number of seconds, got ${opts.values.timeout}`);
  process.exit(2);
}
const broker = opts.urlGiven ? undefined : await startBroker({ port: 0 });
const url = broker?.url ?? opts.url;
const address = opts.urlGiven ? opts.address : 'orders';
if (broker) console.log(`started an embedded broker at ${broker.url}`);

const connection = await connect(url);
try {
  const sender = await connection.createSender(address);
  for (let id = 1; id <= opts.count; id++) await sender.send({ body: { id, total: id * 2.5 } });
  await sender.close();
  console.log(`sent ${opts.count} orders to ${address}`);

  // One signal for every reason to stop; its reason says which.
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(`timed out after ${timeout} s`), timeout * 1000);
  const interrupted = () => stop.abort('interrupted');
  process.once('SIGINT', interrupted);

  const receiver = await connection.createReceiver(address, { credit: 5 });
  let handled = 0;
  for await (const delivery of receiver.deliveries({ signal: stop.signal })) {
    const order = delivery.message.body; // a plain object: { id: 1, total: 2.5 }
    await sleep(20); // the work
    console.log(`handled order ${JSON.stringify(order)}`);
    delivery.accept();
    if (++handled === opts.count) stop.abort(`all ${opts.count} orders handled`);
  }
  clearTimeout(timer);
  process.off('SIGINT', interrupted);
  // Messages that arrived and were not taken stay in the receiver; closing it gives them back to
  // the broker, which delivers them to the next consumer.
  console.log(
    `stopped (${stop.signal.reason}) after ${handled} orders; ${receiver.buffered} prefetched orders go back to the queue`,
  );
  await receiver.close();
} finally {
  await connection.close();
  await broker?.close();
}
