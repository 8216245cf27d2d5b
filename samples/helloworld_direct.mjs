// Hello World, peer to peer with no broker: Qpid Proton's helloworld_direct.py. One Container
// both listens (`container.listen(url)`) and connects to itself: its sender sends "Hello World!",
// its listener's receiver gets it (onMessage prints it), and once the message is accepted the
// sender's connection closes, then the listener: run() resolves.
//
//   node samples/helloworld_direct.mjs [amqp://127.0.0.1:0/examples]
//
// The URL's path is the address; port 0 (the default) picks a free port.
import { Container } from '../dist/esm/index.js';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('helloworld_direct.mjs');

const given = new URL(process.argv[2] ?? 'amqp://127.0.0.1:0/examples');
const address = decodeURIComponent(given.pathname.replace(/^\//, '')) || 'examples';

class HelloWorld {
  onStart(event) {
    this.acceptor = event.container.listen(`amqp://${given.host}`);
    // Proton connects at once to the port it names; with port 0 we wait to know which one it is.
    this.acceptor.listening.then((listener) => event.container.createSender(`${listener.url}/${address}`));
  }

  onSendable(event) {
    event.sender.send({ body: 'Hello World!' });
    event.sender.close();
  }

  onMessage(event) {
    console.log(event.message.body);
  }

  onAccepted(event) {
    event.connection.close();
  }

  onConnectionClosed() {
    this.acceptor.close();
  }
}

await new Container(new HelloWorld()).run();
