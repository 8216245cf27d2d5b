// Receives only the messages a selector picks: Qpid Proton's selected_recv.py. A Container's
// receiver with `selector: "colour = 'green'"` (the apache.org:selector-filter:string filter);
// onMessage prints each body and, after --messages of them, closes the receiver and connection.
//
//   node samples/selected_recv.mjs [amqp://localhost:5672/examples] [--messages 0]
//
// --messages 0 receives until Ctrl-C. Without a URL it starts Quark's embedded broker in this
// process and first sends it what Proton's colour_send.py sends (10 messages, "green 1",
// "red 2", ..., each with a `colour` property), so that it runs alone; it then receives the 5
// green ones unless --messages says otherwise.
import { parseArgs } from 'node:util';
import { connect, Container, startBroker } from '../dist/esm/index.js';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('selected_recv.mjs');

const { values, positionals } = parseArgs({
  options: { messages: { type: 'string', short: 'm' } },
  allowPositionals: true,
});
const given = positionals[0] === undefined ? undefined : new URL(positionals[0]);
const broker = given ? undefined : await startBroker({ port: 0 });
const url = given ? `${given.protocol}//${given.host}` : broker.url;
const address = (given && decodeURIComponent(given.pathname.replace(/^\//, ''))) || 'examples';
const expected = Number(values.messages ?? (broker ? 5 : 0));

if (broker) {
  // colour_send.py's messages.
  const conn = await connect(url);
  const sender = await conn.createSender(address);
  for (let n = 1; n <= 10; n++) {
    const colour = n % 2 ? 'green' : 'red';
    await sender.send({ messageId: n, applicationProperties: { colour }, body: `${colour} ${n}` });
  }
  await conn.close();
}

class Recv {
  constructor() {
    this.received = 0;
  }

  onStart(event) {
    const conn = event.container.connect(url);
    event.container.createReceiver(conn, { source: address, selector: "colour = 'green'" });
  }

  onMessage(event) {
    console.log(event.message.body);
    this.received++;
    if (this.received === expected) {
      // Proton accepts the last message before the close goes out; Quark's autoAccept comes after
      // onMessage returns, when the receiver is already closed (the message would go back to the
      // queue), so accept it here.
      event.delivery.accept();
      event.receiver.close();
      event.connection.close();
    }
  }
}

const container = new Container(new Recv());
const stop = () => container.stop();
process.once('SIGINT', stop);
try {
  await container.run();
} finally {
  process.off('SIGINT', stop);
  await broker?.close();
}
