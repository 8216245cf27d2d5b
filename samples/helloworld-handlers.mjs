// Hello World, handler style: the Qpid Proton tutorial's helloworld.py, event for event. A
// Container calls the handler's methods as things happen: on start it connects and opens a
// receiver and a sender on the queue; when the sender may send, it sends "Hello World!" and
// closes the sender; when the message comes back, it prints it and closes the connection, after
// which run() resolves: there is nothing left to do.
//
//   node samples/helloworld-handlers.mjs [amqp://localhost:5672/examples] [--embedded]
import { Container } from '../dist/esm/index.js';
import { maybeEmbeddedBroker, parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('helloworld-handlers.mjs');

class HelloWorld {
  constructor(url, address) {
    this.url = url;
    this.address = address;
  }

  onStart(event) {
    const connection = event.container.connect(this.url);
    event.container.createReceiver(connection, this.address);
    event.container.createSender(connection, this.address);
  }

  onSendable(event) {
    event.sender.send({ body: 'Hello World!' });
    event.sender.close();
  }

  onMessage(event) {
    console.log(event.message.body);
    event.connection.close();
  }
}

const opts = parseOptions('helloworld-handlers.mjs [URL] [--embedded]');
const { broker, url } = await maybeEmbeddedBroker(opts, { quiet: true });
try {
  await new Container(new HelloWorld(url, opts.address)).run();
} finally {
  await broker?.close();
}
