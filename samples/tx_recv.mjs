// Receives messages in transactions of --batch-size: Qpid Proton's tx_recv.py, handler for
// handler, on Quark's Container. Credit is granted a batch at a time (prefetch 0), each message is
// accepted in the transaction, and the accepts take effect when it commits.
//
//   node samples/tx_recv.mjs [amqp://localhost:5672/examples] [--messages 100] [--batch-size 10]
//
// --messages 0 receives until Ctrl-C. Without a URL it starts Quark's embedded broker in the
// process and first sends it the messages to receive.
import { Container, startBroker } from '../dist/esm/index.js';
import { sendMessages } from './simple_send.mjs';
import { parseOptions, show } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('tx_recv.mjs');

class TxRecv {
  prefetch = 0;
  autoAccept = false;

  constructor(url, address, messages, batchSize) {
    this.url = url;
    this.address = address;
    this.expected = messages;
    this.batchSize = batchSize;
    this.currentBatch = 0;
    this.committed = 0;
    this.transaction = undefined;
  }

  onStart(event) {
    this.container = event.container;
    this.conn = this.container.connect(this.url);
    this.receiver = this.container.createReceiver(this.conn, this.address);
    this.container.declareTransaction(this.conn, { handler: this });
  }

  onMessage(event) {
    console.log(show(event.message.body));
    this.transaction.accept(event.delivery);
    this.currentBatch += 1;
    if (this.currentBatch === this.batchSize) {
      this.transaction.commit();
      this.transaction = undefined;
    }
  }

  onTransactionDeclared(event) {
    this.receiver.flow(this.batchSize);
    this.transaction = event.transaction;
  }

  onTransactionCommitted(event) {
    this.committed += this.currentBatch;
    this.currentBatch = 0;
    if (this.expected === 0 || this.committed < this.expected) {
      this.container.declareTransaction(this.conn, { handler: this });
    } else {
      event.connection.close();
    }
  }

  onDisconnected() {
    this.currentBatch = 0;
  }
}

const opts = parseOptions('tx_recv.mjs [URL] [--messages 100] [--batch-size 10]', {
  extra: { messages: { type: 'string', short: 'm' }, 'batch-size': { type: 'string', short: 'b' } },
});
const messages = Number(opts.values.messages ?? 100);
const batchSize = Number(opts.values['batch-size'] ?? 10);
const broker = opts.urlGiven ? undefined : await startBroker({ port: 0 });
try {
  if (broker) await sendMessages(broker.url, opts.address, messages);
  await new Container(new TxRecv(broker?.url ?? opts.url, opts.address, messages, batchSize)).run();
} finally {
  await broker?.close();
}
