// Sends N messages directly to a receiver that listens (direct_recv.mjs), with no broker in
// between: Proton's tutorial pairs direct_send.py/direct_recv.py. Here the receiver listens and
// the sender connects, which is just simple_send.mjs's code pointed at the receiver.
//
//   node samples/direct_send.mjs [amqp://localhost:5672/examples] [--count 100] [--embedded]
//
// With --embedded the sample also runs the listening receiver in this process (direct_recv.mjs's
// code, on a free port), so it runs alone.
import { receiveDirect } from './direct_recv.mjs';
import { sendMessages } from './simple_send.mjs';
import { isMain, parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

if (isMain(import.meta)) {
  exitOnAmqpError('direct_send.mjs');
  const opts = parseOptions('direct_send.mjs [URL] [--count N] [--embedded]', { count: 100 });
  let url = opts.url;
  let receiving;
  if (opts.embedded) {
    let received = 0;
    url = await new Promise((resolve, reject) => {
      receiving = receiveDirect('127.0.0.1', 0, opts.address, opts.count, resolve, () => received++).then(() =>
        console.log(`(the embedded receiver got ${received} messages and stopped listening)`),
      );
      receiving.catch(reject);
    });
    console.log(`started an embedded receiver listening on ${url}`);
  }
  console.log(`sending ${opts.count} messages directly to ${opts.address} at ${url}`);
  const confirmed = await sendMessages(url, opts.address, opts.count);
  console.log(`all messages confirmed (${confirmed})`);
  await receiving;
}
