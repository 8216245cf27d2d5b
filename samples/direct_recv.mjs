// Receives N messages directly from a sender, with no broker in between: Proton's tutorial
// direct_recv.py. It listens for AMQP connections (`listen()`) and accepts the links senders
// attach; direct_send.mjs (or simple_send.mjs) connects to it.
//
//   node samples/direct_recv.mjs [amqp://localhost:5672/examples] [--count 100] [--embedded]
//
// Port 0 picks a free port (printed). With --embedded the sample also runs the sending side in
// this process (simple_send.mjs's code), so it runs alone.
import { listen } from '../dist/esm/index.js';
import { sendMessages } from './simple_send.mjs';
import { isMain, parseOptions, show } from './tutorial-common.mjs';
import { receiveMessages } from './simple_recv.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

/**
 * Listens on host:port and receives `count` distinct messages from whoever sends to `address`
 * (0: until interrupted), then closes the listener. `onListening` gets the URL once bound.
 */
export async function receiveDirect(host, port, address, count, onListening, onMessage) {
  const listener = await listen({ host, port });
  onListening(listener.url);
  const stop = () => void listener.close();
  process.once('SIGINT', stop);
  let received = 0;
  try {
    for await (const link of listener) {
      // A peer that wants to send to us attaches a link on which we are the receiver.
      if (link.role !== 'receiver' || (link.address !== undefined && link.address !== address)) {
        link.refuse({
          condition: 'amqp:not-found',
          description: `this program only receives messages sent to ${address}`,
        });
        continue;
      }
      const receiver = link.acceptAsReceiver();
      received += await receiveMessages(receiver, count === 0 ? 0 : count - received, onMessage);
      if (count !== 0 && received >= count) break;
    }
  } finally {
    process.off('SIGINT', stop);
    await listener.close();
  }
  return received;
}

if (isMain(import.meta)) {
  exitOnAmqpError('direct_recv.mjs');
  const opts = parseOptions('direct_recv.mjs [URL] [--count N] [--embedded]', { count: 100 });
  // Alone (--embedded) and without a URL, take a free port rather than 5672.
  const port = opts.embedded && !opts.urlGiven ? 0 : opts.port;
  const received = await receiveDirect(
    opts.host,
    port,
    opts.address,
    opts.count,
    (url) => {
      console.log(`listening on ${url}/${opts.address}`);
      if (opts.embedded) {
        sendMessages(url, opts.address, opts.count).then(
          (n) => console.log(`(the embedded sender had all ${n} messages confirmed)`),
          (e) => console.error(`the embedded sender failed: ${e.message}`),
        );
      }
    },
    (message) => console.log(show(message.body)),
  );
  console.log(`received ${received} messages; stopped listening`);
}
