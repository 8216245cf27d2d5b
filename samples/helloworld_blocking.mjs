// Hello World with calls that wait: Qpid Proton's helloworld_blocking.py (BlockingConnection),
// with Quark's promise API: await connect, createReceiver, createSender, send, receive.
//
//   node samples/helloworld_blocking.mjs [amqp://localhost:5672/examples]
//
// The URL's path is the queue. Without a URL it starts Quark's embedded broker in this process.
import { connect, startBroker } from '../dist/esm/index.js';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('helloworld_blocking.mjs');

const given = process.argv[2] === undefined ? undefined : new URL(process.argv[2]);
const broker = given ? undefined : await startBroker({ port: 0 });
const url = given ? `${given.protocol}//${given.host}` : broker.url;
const address = (given && decodeURIComponent(given.pathname.replace(/^\//, ''))) || 'examples';
try {
  const conn = await connect(url);
  try {
    const receiver = await conn.createReceiver(address);
    const sender = await conn.createSender(address);
    await sender.send({ body: 'Hello World!' });
    const delivery = await receiver.receive({ timeout: 30_000 });
    console.log(delivery.message.body);
    delivery.accept();
  } finally {
    await conn.close();
  }
} finally {
  await broker?.close();
}
