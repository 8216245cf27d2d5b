// Looks at the messages in a queue without taking them: Proton's tutorial queue_browser.py. A
// receiver whose source has distribution mode `copy` gets copies; the queue keeps its messages.
//
//   node samples/queue_browser.mjs [amqp://localhost:5672/examples] [--embedded]
//
// It stops once the broker has nothing more to show: it asks for messages with drain (the broker
// sends what it has, then gives the rest of the credit back). With --embedded it starts a broker
// in this process and puts a few messages in the queue first.
import { connect } from '../dist/esm/index.js';
import { isMain, maybeEmbeddedBroker, parseOptions, show } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

/** Browses `address`: calls `onMessage` with a copy of each message there now; returns how many. */
export async function browse(url, address, onMessage) {
  const connection = await connect(url);
  try {
    const browser = await connection.createReceiver({ source: { address, distributionMode: 'copy' }, credit: 0 });
    let seen = 0;
    while (true) {
      browser.addCredit(100);
      await browser.drain({ timeout: 30_000 });
      const batch = browser.buffered;
      for (let i = 0; i < batch; i++) {
        const copy = await browser.receive();
        copy.accept();
        onMessage(copy.message);
        seen++;
      }
      if (batch < 100) return seen;
    }
  } finally {
    await connection.close();
  }
}

if (isMain(import.meta)) {
  exitOnAmqpError('queue_browser.mjs');
  const opts = parseOptions('queue_browser.mjs [URL] [--embedded]');
  const { broker, url } = await maybeEmbeddedBroker(opts);
  if (broker) {
    const connection = await connect(url);
    const sender = await connection.createSender(opts.address);
    await sender.sendAll(['red', 'green', 'blue'].map((colour, i) => ({ messageId: i + 1, body: colour })));
    await connection.close();
    console.log(`put 3 messages in ${opts.address} on the embedded broker`);
  }
  console.log(`browsing ${opts.address} at ${url}`);
  const seen = await browse(url, opts.address, (m) => console.log(`${String(m.messageId)}: ${show(m.body)}`));
  console.log(`browsed ${seen} messages (they are still in the queue)`);
  if (broker)
    console.log(
      `the queue still holds ${broker.queues().find((q) => q.address === opts.address)?.depth ?? 0} messages`,
    );
  await broker?.close();
}
