/**
 * Hello World, handler style: the Qpid Proton tutorial's helloworld.py, event for event. A
 * Container calls the handler's methods as things happen: on start it connects and opens a
 * receiver and a sender on the queue; when the sender may send, it sends "Hello World!" and
 * closes the sender; when the message comes back, it prints it and closes the connection, after
 * which run() resolves: there is nothing left to do.
 *
 *   node --import ./samples/register.mjs samples/helloworld-handlers.ts [amqp://localhost:5672/examples] [--embedded]
 */
import { Container, type ContainerEvent, type MessageEvent, type MessagingHandler, type SenderEvent } from '../src/index.js';
import { sampleTarget } from './support/relay.js';

class HelloWorld implements MessagingHandler {
  readonly #url: string;
  readonly #address: string;

  constructor(url: string, address: string) {
    this.#url = url;
    this.#address = address;
  }

  onStart(event: ContainerEvent): void {
    const connection = event.container.connect(this.#url);
    event.container.createReceiver(connection, this.#address);
    event.container.createSender(connection, this.#address);
  }

  onSendable(event: SenderEvent): void {
    event.sender.send({ body: 'Hello World!' });
    event.sender.close();
  }

  onMessage(event: MessageEvent): void {
    console.log(event.message.body);
    event.connection.close();
  }
}

const { url, address, relay } = await sampleTarget();
try {
  await new Container(new HelloWorld(url, address)).run();
} finally {
  await relay?.close();
}
