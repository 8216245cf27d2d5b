// Receives messages one at a time, in transactions you commit or abort by hand: Qpid Proton's
// tx_recv_interactive.py on Quark's Container. Type a command per line on stdin:
//   fetch   grant credit for one message (it is printed, and accepted in the transaction)
//   commit  commit the transaction (its accepts take effect), a new one is declared
//   abort   abort it (the messages it accepted go back to the queue), a new one is declared
//   quit    close the receiver and the connection, and exit (so does the end of stdin)
//
//   node samples/tx_recv_interactive.mjs [amqp://localhost:5672/examples]
//
// Without a URL it starts Quark's embedded broker in the process and puts 10 messages in it.
import { createInterface } from 'node:readline';
import { Container, startBroker } from '../dist/esm/index.js';
import { sendMessages } from './simple_send.mjs';
import { parseOptions, show } from './tutorial-common.mjs';
import { exitOnAmqpError } from './one-line-errors.mjs';

exitOnAmqpError('tx_recv_interactive.mjs');

class TxRecv {
  prefetch = 0;
  autoAccept = false;

  constructor(url, address) {
    this.url = url;
    this.address = address;
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
  }

  onTransactionDeclared(event) {
    this.transaction = event.transaction;
    console.log('transaction declared');
  }

  onTransactionCommitted() {
    console.log('transaction committed');
    this.container.declareTransaction(this.conn, { handler: this });
  }

  onTransactionAborted() {
    console.log('transaction aborted');
    this.container.declareTransaction(this.conn, { handler: this });
  }

  // The application events, from the lines typed on stdin.
  onCommit() {
    this.transaction.commit();
  }

  onAbort() {
    this.transaction.abort();
  }

  onFetch() {
    this.receiver.flow(1);
  }

  onQuit() {
    this.receiver.close();
    this.conn.close();
  }
}

const opts = parseOptions('tx_recv_interactive.mjs [URL]');
const broker = opts.urlGiven ? undefined : await startBroker({ port: 0 });
try {
  if (broker) await sendMessages(broker.url, opts.address, 10);
  const handler = new TxRecv(broker?.url ?? opts.url, opts.address);
  const container = new Container(handler);
  const running = container.run();
  console.log("Enter 'fetch', 'commit' or 'abort'");
  const lines = createInterface({ input: process.stdin });
  let quit = false;
  const commands = { fetch: 'onFetch', commit: 'onCommit', abort: 'onAbort', quit: 'onQuit' };
  lines.on('line', (line) => {
    const command = commands[line.trim()];
    if (quit || command === undefined) return;
    if (command === 'onQuit') quit = true;
    try {
      handler[command]();
    } catch (e) {
      console.error(`${line.trim()}: ${e.message}`);
    }
  });
  lines.on('close', () => {
    if (!quit) {
      quit = true;
      handler.onQuit();
    }
  });
  await running;
  lines.close();
} finally {
  await broker?.close();
}
