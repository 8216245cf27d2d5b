// Receives N messages from a queue, printing each body: Proton's tutorial simple_recv.py, with
// Quark's promise API (a receiver is an async iterable of deliveries).
//
//   node samples/simple_recv.mjs [amqp://localhost:5672/examples] [--count 100] [--embedded]
//
// --count 0 receives until interrupted. Duplicates (a message id already seen, which
// at-least-once delivery allows) are accepted and skipped. With --embedded the sample starts a
// broker in this process and, since no other program can reach it, first sends the messages to it
// itself (with simple_send.mjs's code).
import { connect } from '../dist/esm/index.js';
import { sendMessages } from './simple_send.mjs';
import { isMain, maybeEmbeddedBroker, parseOptions, show } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

/** Receives `count` distinct messages (0: until the link or connection ends), calling `onMessage` with each. */
export async function receiveMessages(receiver, count, onMessage) {
  const seen = new Set();
  let received = 0;
  for await (const delivery of receiver) {
    const id = delivery.message.messageId;
    const duplicate = id !== undefined && seen.has(String(id));
    if (id !== undefined) seen.add(String(id));
    delivery.accept();
    if (duplicate) continue;
    onMessage(delivery.message);
    received++;
    if (received === count) break;
  }
  return received;
}

if (isMain(import.meta)) {
  exitOnAmqpError('simple_recv.mjs');
  const opts = parseOptions('simple_recv.mjs [URL] [--count N] [--embedded]', { count: 100 });
  const { broker, url } = await maybeEmbeddedBroker(opts);
  if (broker) {
    const sent = await sendMessages(url, opts.address, opts.count);
    console.log(`sent ${sent} messages to ${opts.address} on the embedded broker, to have something to receive`);
  }
  const connection = await connect(url);
  const stop = () => void connection.close();
  process.once('SIGINT', stop);
  const receiver = await connection.createReceiver(opts.address);
  console.log(`receiving ${opts.count || 'all'} messages from ${opts.address} at ${url}`);
  const received = await receiveMessages(receiver, opts.count, (message) => console.log(show(message.body)));
  await connection.close();
  process.off('SIGINT', stop);
  console.log(`received ${received} messages`);
  await broker?.close();
}
