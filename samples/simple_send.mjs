// Sends N messages to a queue and waits until every one is confirmed (accepted): Proton's
// tutorial simple_send.py, with Quark's promise API.
//
//   node samples/simple_send.mjs [amqp://localhost:5672/examples] [--count 100] [--embedded]
//
// `send()` waits for credit by itself (AMQP flow control) and resolves when the receiving peer
// accepts the message, so "confirmed" needs no event handler. `sendAll()` reads the messages
// only as fast as the link takes them, so even a large --count stays small in memory.
import { connect } from '../dist/esm/index.js';
import { isMain, maybeEmbeddedBroker, parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

/** Sends messages 1..count ({ sequence: i }, message id i) to `address`; resolves once all are accepted. */
export async function sendMessages(url, address, count) {
  const connection = await connect(url);
  try {
    const sender = await connection.createSender(address);
    function* messages() {
      for (let i = 1; i <= count; i++) yield { messageId: i, body: { sequence: i } };
    }
    return await sender.sendAll(messages());
  } finally {
    await connection.close();
  }
}

if (isMain(import.meta)) {
  exitOnAmqpError('simple_send.mjs');
  const opts = parseOptions('simple_send.mjs [URL] [--count N] [--embedded]', { count: 100 });
  const { broker, url } = await maybeEmbeddedBroker(opts);
  console.log(`sending ${opts.count} messages to ${opts.address} at ${url}`);
  const confirmed = await sendMessages(url, opts.address, opts.count);
  console.log(`all messages confirmed (${confirmed})`);
  if (broker) {
    const depth = broker.queues().find((q) => q.address === opts.address)?.depth ?? 0;
    console.log(`the embedded broker holds ${depth} messages in ${opts.address}; stopping it (they are dropped)`);
    await broker.close();
  }
}
