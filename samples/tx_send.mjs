// Sends messages in transactions of --batch-size: Qpid Proton's tx_send.py, handler for handler,
// on Quark's Container. A batch reaches the queue only when its transaction commits.
//
//   node samples/tx_send.mjs [amqp://localhost:5672/examples] [--messages 100] [--batch-size 10]
//
// Without a URL it starts Quark's embedded broker (a transaction coordinator) in the process.
import { Container, startBroker } from '../dist/esm/index.js';
import { parseOptions } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('tx_send.mjs');

class TxSend {
  constructor(url, address, messages, batchSize) {
    this.url = url;
    this.address = address;
    this.currentBatch = 0;
    this.committed = 0;
    this.confirmed = 0;
    this.total = messages;
    this.batchSize = batchSize;
    this.transaction = undefined;
  }

  onStart(event) {
    this.container = event.container;
    this.conn = this.container.connect(this.url);
    this.sender = this.container.createSender(this.conn, this.address);
    this.container.declareTransaction(this.conn, { handler: this });
  }

  onTransactionDeclared(event) {
    this.transaction = event.transaction;
    this.send();
  }

  onSendable() {
    this.send();
  }

  send() {
    while (this.transaction && this.sender.credit > 0 && this.committed + this.currentBatch < this.total) {
      const seq = this.committed + this.currentBatch + 1;
      this.transaction.send(this.sender, { messageId: seq, body: { sequence: seq } });
      this.currentBatch += 1;
      if (this.currentBatch === this.batchSize) {
        this.transaction.commit();
        this.transaction = undefined;
      }
    }
  }

  onAccepted(event) {
    if (event.sender === this.sender) this.confirmed += 1;
  }

  onTransactionCommitted(event) {
    this.committed += this.currentBatch;
    if (this.committed === this.total) {
      console.log('all messages committed');
      event.connection.close();
    } else {
      this.currentBatch = 0;
      this.container.declareTransaction(this.conn, { handler: this });
    }
  }

  onDisconnected() {
    this.currentBatch = 0;
  }
}

const opts = parseOptions('tx_send.mjs [URL] [--messages 100] [--batch-size 10]', {
  extra: { messages: { type: 'string', short: 'm' }, 'batch-size': { type: 'string', short: 'b' } },
});
const messages = Number(opts.values.messages ?? 100);
const batchSize = Number(opts.values['batch-size'] ?? 10);
const broker = opts.urlGiven ? undefined : await startBroker({ port: 0 });
try {
  await new Container(new TxSend(broker?.url ?? opts.url, opts.address, messages, batchSize)).run();
} finally {
  await broker?.close();
}
