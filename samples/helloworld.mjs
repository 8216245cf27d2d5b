// Hello World, promise style: send "Hello World!" to a queue and receive it back (the Qpid Proton
// tutorial's first example, helloworld.py, with Quark's client API).
//
//   node samples/helloworld.mjs [amqp://localhost:5672/examples] [--embedded]
//
// The URL's path is the queue. `--embedded` starts Quark's broker in this process instead.
import { connect } from '../dist/esm/index.js';
import { maybeEmbeddedBroker, parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('helloworld.mjs');

const opts = parseOptions('helloworld.mjs [URL] [--embedded]');
const { broker, url } = await maybeEmbeddedBroker(opts, { quiet: true });
try {
  const connection = await connect(url);
  try {
    const receiver = await connection.createReceiver(opts.address);
    const sender = await connection.createSender(opts.address);
    await sender.send({ body: 'Hello World!' }); // resolves once the peer accepts it
    const delivery = await receiver.receive();
    console.log(delivery.message.body);
    delivery.accept();
  } finally {
    await connection.close();
  }
} finally {
  await broker?.close();
}
