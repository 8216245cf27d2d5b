/**
 * Hello World, promise style: send "Hello World!" to a queue and receive it back (the Qpid Proton
 * tutorial's first example, with Quark's client API).
 *
 *   node --import ./samples/register.mjs samples/helloworld.ts [amqp://localhost:5672/examples] [--embedded]
 *
 * The URL's path is the queue. `--embedded` starts a tiny relay in this process instead of
 * needing a broker.
 */
import { connect } from '../src/index.js';
import { sampleTarget } from './support/relay.js';

const { url, address, relay } = await sampleTarget();
try {
  const connection = await connect(url);
  try {
    const receiver = await connection.createReceiver(address);
    const sender = await connection.createSender(address);
    await sender.send({ body: 'Hello World!' }); // resolves once the peer accepts it
    const delivery = await receiver.receive();
    console.log(delivery.message.body);
    delivery.accept();
  } finally {
    await connection.close();
  }
} finally {
  await relay?.close();
}
